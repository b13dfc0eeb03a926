"""The hf engine's decoding workers: the same completions in 1 or 2 processes; a worker that fails or dies stops
the call with its cause, and no worker outlives it."""

import multiprocessing
import os
import signal

import pytest

from qup.engines import Sampling
from qup.engines.hf import HFEngine, WorkerFailed

# uneven prompts: length-sorted batches of 3 over 7 conversations x 2 samples are 5 batches, the last of 2
QUESTIONS = ["What is 1 + 1?", "2*3", "Compute 17 + 25 - 3, then halve it.", "9", "A long question about 4 and 5?",
             "7 - 2 = ?", "Add 11 and 12."]
CONVERSATIONS = [[{"role": "user", "content": q}] for q in QUESTIONS]
GREEDY = Sampling(temperature=0, max_new_tokens=12, seed=0)
SAMPLED = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=12, seed=3)


@pytest.fixture(autouse=True)
def deadline():
    """A call that hangs fails the test instead of the run."""
    def expired(signum, frame):
        raise TimeoutError("the call hung")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def engines(tiny_model_dir):
    return {workers: HFEngine(str(tiny_model_dir), batch_size=3, device="cpu", progress=False, workers=workers,
                              threads=1) for workers in (1, 2)}


def _fields(completions):
    return [[(c.text, c.n_tokens, c.finish_reason, c.prompt_tokens) for c in samples] for samples in completions]


@pytest.mark.parametrize("sampling", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_two_workers_give_the_completions_of_one(engines, sampling):
    one = engines[1].generate(CONVERSATIONS, 2, sampling, seeds=list(range(10, 17)))
    two = engines[2].generate(CONVERSATIONS, 2, sampling, seeds=list(range(10, 17)))
    assert _fields(two) == _fields(one)
    assert len(one) == 7 and all(len(samples) == 2 for samples in one)
    assert len({c.prompt_tokens for samples in one for c in samples}) > 1  # the batches were uneven
    assert not multiprocessing.active_children()


def break_the_last_batch(monkeypatch, breaking) -> None:
    """``HFEngine._decode`` runs ``breaking()`` on the last (smallest) batch before decoding it."""
    decode = HFEngine._decode

    def decode_or_break(self, prompts, seeds, sampling):
        if len(prompts) < 3:
            breaking()
        return decode(self, prompts, seeds, sampling)

    monkeypatch.setattr(HFEngine, "_decode", decode_or_break)


def test_a_worker_that_raises_stops_the_call_with_its_traceback(engines, monkeypatch):
    def fail():
        raise ValueError("the model broke on purpose")

    break_the_last_batch(monkeypatch, fail)
    with pytest.raises(WorkerFailed, match=r"failed on batch 4:\n(.|\n)*ValueError: the model broke on purpose"):
        engines[2].generate(CONVERSATIONS, 2, GREEDY)
    assert not multiprocessing.active_children()


def test_a_killed_worker_stops_the_call_naming_its_exit_code(engines, monkeypatch):
    parent = os.getpid()

    def die():
        if os.getpid() != parent:  # a worker, never the test itself
            os.kill(os.getpid(), signal.SIGKILL)

    break_the_last_batch(monkeypatch, die)
    with pytest.raises(WorkerFailed, match=r"killed by SIGKILL \(exit code -9\) while decoding batch 4"):
        engines[2].generate(CONVERSATIONS, 2, GREEDY)
    assert not multiprocessing.active_children()


def test_workers_decode_in_process_on_a_gpu_and_refuse_more_threads(tiny_model_dir, capsys):
    with pytest.raises((RuntimeError, AssertionError)):  # this CPU-only torch has no cuda to move the model to
        HFEngine(str(tiny_model_dir), device="cuda", workers=2)
    assert "applies on a CPU only; decoding on cuda in this process" in capsys.readouterr().err
    with pytest.raises(ValueError, match="a forked worker runs 1 torch thread"):
        HFEngine(str(tiny_model_dir), device="cpu", workers=2, threads=2)
