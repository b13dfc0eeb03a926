"""transformers on CPU or GPU: batched, left-padded, length-sorted decoding with a KV cache.

Each request (a conversation's j-th sample) draws its uniforms from its own seeded generator,
once per batch, and turns each into a token by inverse-CDF sampling over the whole batch at once;
so a sample does not depend on which other requests shared its batch, and a resumed or
re-sharded run gives the same samples. ``model.generate`` has one generator per batch, hence the
small decode loop here. A row stops on any of the model's end-of-turn ids (``qup.chat.end_of_turn_ids``).

With ``workers`` > 1 the batches are decoded by that many processes forked from this one once the model
is loaded (copy-on-write, nothing pickled but batch indices and completions), each with one torch thread
(GNU OpenMP hangs in a forked child that runs more once its parent has), taking the next batch as it finishes
one. A batch's completions depend only on it and on the thread count, so they are the same whichever process
decoded it.
"""

from __future__ import annotations

import ctypes
import inspect
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from multiprocessing.connection import Connection, wait

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache

from qup.chat import end_of_turn_ids, pad_batch, positions, prompt_ids
from qup.engines.base import Completion, Conversation, EngineBase, Sampling, request_seed
from qup.numerics import slow_bfloat16_warning
from qup.progress import advance, progress

DTYPES = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _inverse_cdf(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """One token per row: the first whose cumulative probability passes the row's uniform draw.

    The draw is scaled by the row's total mass, so rounding never lands past the last token and a
    token of probability 0 is never chosen.
    """
    cdf = probs.cumsum(-1)
    mass = cdf[:, -1]
    if not bool(((mass > 0) & torch.isfinite(mass)).all()):
        raise ValueError("a row's next-token probabilities sum to 0 or are not finite; nothing can be sampled")
    return torch.searchsorted(cdf, (uniforms * mass)[:, None], right=True)[:, 0].clamp(max=probs.shape[-1] - 1)


def _top_p_filter(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero the tail outside the smallest set of tokens whose mass reaches ``top_p``."""
    if top_p >= 1.0:
        return probs
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs > top_p
    sorted_probs[outside] = 0.0
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)


class HFEngine(EngineBase):
    """Generation with a transformers model loaded through ``from_pretrained``."""

    name = "hf"
    sampler = "inverse-cdf"  # keys cached samples: samples drawn another way are never mixed in

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto",
                 device: str | None = None, batch_size: int = 64, progress: bool = True,
                 adapter: str | None = None, workers: int = 1, threads: int | None = None):
        self.model = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if workers > 1 and self.device != "cpu":  # forked processes do not survive a GPU context: one decodes
            print(f"hf: hf.workers {workers} applies on a CPU only; decoding on {self.device} in this process",
                  file=sys.stderr)
            workers = 1
        if workers > 1 and threads not in (None, 1):
            raise ValueError(f"hf.threads {threads} with hf.workers {workers}: a forked worker runs 1 torch thread "
                             "(GNU OpenMP, torch's, hangs in a forked child that runs more once its parent has)")
        self.workers = workers
        self.threads = threads  # None: torch's default with one worker, 1 with more
        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.stop_ids = end_of_turn_ids(self.tokenizer, model)
        self.lm = AutoModelForCausalLM.from_pretrained(model, revision=revision, dtype=DTYPES[dtype])
        if adapter is not None:  # a LoRA checkpoint: merged once, then decoding costs what the base model's does
            from peft import PeftModel

            self.lm = PeftModel.from_pretrained(self.lm, adapter).merge_and_unload()
        self.lm.to(self.device).eval()
        if self.device == "cpu" and self.lm.dtype == torch.bfloat16 and (slow := slow_bfloat16_warning("hf")):
            print(slow, file=sys.stderr)
        # transformers renamed `past_key_values` to `cache`; speak whichever this version knows
        self._cache_arg = "cache" if "cache" in inspect.signature(self.lm.forward).parameters else "past_key_values"
        self.batch_size = batch_size
        self.progress = progress

    def encode(self, conversation: Conversation) -> list[int]:
        return prompt_ids(self.tokenizer, conversation)

    def generate(self, conversations: list[Conversation], n: int, sampling: Sampling,
                 seeds: list[int] | None = None) -> list[list[Completion]]:
        """``n`` completions per conversation; ``seeds`` (one per conversation) default to its index."""
        prompts = [self.encode(c) for c in conversations]
        seeds = list(range(len(prompts))) if seeds is None else seeds
        jobs = sorted(((len(prompts[i]), i, j) for i in range(len(prompts)) for j in range(n)), reverse=True)
        batches = [jobs[start:start + self.batch_size] for start in range(0, len(jobs), self.batch_size)]
        results: list[list[Completion | None]] = [[None] * n for _ in prompts]

        def decode(index: int) -> list[Completion]:
            batch = batches[index]
            return self._decode([prompts[i] for _, i, _ in batch],
                                [request_seed(sampling.seed, seeds[i], j) for _, i, j in batch], sampling)

        bar = progress(total=len(jobs), desc=f"generate ({self.name})", unit="sample", disable=not self.progress)
        with bar, closing(self._decoded(len(batches), decode)) as decoded:
            for index, outputs in decoded:
                for (_, i, j), completion in zip(batches[index], outputs):
                    results[i][j] = completion
                bar.update(len(batches[index]))
                advance(len(batches[index]))
        return results  # type: ignore[return-value]

    def _decoded(self, n_batches: int, decode: Callable[[int], list[Completion]]) -> Iterator[tuple[int, list]]:
        """(index, completions) of each of ``n_batches`` batches as it is decoded: here, or in worker processes."""
        if self.workers == 1 or n_batches < 2:
            with _torch_threads(self.threads if self.workers == 1 else 1):
                for index in range(n_batches):
                    yield index, decode(index)
        else:
            yield from _in_workers(n_batches, decode, min(self.workers, n_batches))

    @torch.inference_mode()
    def _decode(self, prompts: list[list[int]], seeds: list[int], sampling: Sampling) -> list[Completion]:
        ids, mask = pad_batch(prompts, self.tokenizer.pad_token_id, "left")
        ids, mask = ids.to(self.device), mask.to(self.device)
        where = positions(mask)
        greedy = sampling.temperature == 0
        # every request's uniforms for the whole decode, from its own generator: one call per request
        uniforms = None if greedy else torch.stack([
            torch.rand(sampling.max_new_tokens, generator=torch.Generator().manual_seed(s))
            for s in seeds]).to(self.device)
        stops = torch.tensor(self.stop_ids, device=self.device)
        cache = DynamicCache()
        tokens: list[list[int]] = [[] for _ in prompts]
        active = list(range(len(prompts)))  # the rows still decoding, by their index in ``prompts``
        logits = self.lm(input_ids=ids, attention_mask=mask, position_ids=where, use_cache=True,
                         **{self._cache_arg: cache}).logits[:, -1, :]
        for step in range(sampling.max_new_tokens):
            if greedy:
                chosen = logits.argmax(-1)
            else:
                probs = _top_p_filter(torch.softmax(logits.float() / sampling.temperature, -1), sampling.top_p)
                chosen = _inverse_cdf(probs, uniforms[:, step])
            for row, token in zip(active, chosen.tolist()):
                tokens[row].append(token)
            running = (~torch.isin(chosen, stops)).nonzero()[:, 0]
            if running.numel() == 0:
                break
            if running.numel() < len(active):  # finished rows leave the batch, so the long tail runs small
                keep = running.tolist()
                active = [active[i] for i in keep]
                uniforms = None if greedy else uniforms[running]
                chosen, mask, where = chosen[running], mask[running], where[running]
                cache.batch_select_indices(running)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
            where = where[:, -1:] + 1
            logits = self.lm(input_ids=chosen[:, None], attention_mask=mask, position_ids=where,
                             use_cache=True, **{self._cache_arg: cache}).logits[:, -1, :]
        completions = []
        for prompt, row in zip(prompts, tokens):
            stopped = bool(row) and row[-1] in self.stop_ids
            text = self.tokenizer.decode(row[:-1] if stopped else row, skip_special_tokens=True)
            completions.append(Completion(text, len(row), "stop" if stopped else "length", prompt_tokens=len(prompt)))
        return completions


@contextmanager
def _torch_threads(threads: int | None):
    """torch's intra-op threads set to ``threads`` for the block (None: left as they are)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class WorkerFailed(RuntimeError):
    """A decoding worker raised (its traceback in the message) or died."""


def _worker(conn: Connection, inherited: list[Connection], decode: Callable) -> None:
    """A forked worker's loop: decode each batch index the parent sends, answer (index, completions, None) or,
    when decoding raises, (index, None, traceback) and stop. None or the parent gone ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handlers (they stop the parent's servers)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    for other in inherited:  # the parent's ends: without them, the parent's death reads as EOF here
        other.close()
    _die_with_parent()
    torch.set_num_threads(1)
    while True:
        try:
            index = conn.recv()
        except EOFError:
            return
        if index is None:
            return
        try:
            answer = (index, decode(index), None)
        except BaseException:
            answer = (index, None, traceback.format_exc())
        try:
            conn.send(answer)
        except OSError:  # the parent is gone
            return
        if answer[2] is not None:
            return


def _die_with_parent() -> None:
    """Linux: this process is killed when its parent dies, even of SIGKILL (elsewhere it ends at its next read)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _died(process, index: int | None) -> WorkerFailed:
    process.join(5)
    code = process.exitcode
    how = (f"was killed by {signal.Signals(-code).name} (exit code {code})" if code is not None and code < 0
           else f"exited with exit code {code}")
    doing = f" while decoding batch {index}" if index is not None else ""
    return WorkerFailed(f"hf decoding worker {process.name} (pid {process.pid}) {how}{doing}")


def _in_workers(n_batches: int, decode: Callable[[int], list[Completion]],
                workers: int) -> Iterator[tuple[int, list[Completion]]]:
    """(index, completions) of each batch as ``workers`` forked processes decode them, each taking the next batch
    as it answers. A worker that raises or dies raises ``WorkerFailed``; every worker is reaped however this ends,
    on SIGTERM too (then the signal goes on to its previous handler)."""
    context = multiprocessing.get_context("fork")
    processes, conns = [], []
    finished = False

    def stop() -> None:  # finished: each worker told to end; else each one still alive terminated
        for process, conn in zip(processes, conns):
            if finished:
                try:
                    conn.send(None)
                except OSError:
                    pass
            elif process.is_alive():
                process.terminate()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in conns:
            conn.close()

    with _reaped_on_sigterm(stop):
        try:
            for k in range(workers):
                parent_end, child_end = context.Pipe()
                process = context.Process(target=_worker, args=(child_end, conns + [parent_end], decode),
                                          name=f"qup-hf-{k}", daemon=True)
                with _signals_blocked():  # the child resets its handlers before any signal reaches it
                    process.start()
                child_end.close()
                processes.append(process)
                conns.append(parent_end)
            todo = iter(range(n_batches))
            pending: dict[int, int] = {}  # worker -> the batch it decodes

            def give(k: int) -> None:  # the next batch, if any, to worker k
                index = next(todo, None)
                if index is not None:
                    pending[k] = index
                    try:
                        conns[k].send(index)
                    except OSError:
                        raise _died(processes[k], index) from None

            for k in range(workers):
                give(k)
            while pending:
                watched = {conns[k]: k for k in pending} | {processes[k].sentinel: k for k in pending}
                for ready in wait(list(watched)):
                    k = watched[ready]
                    if k not in pending:
                        continue
                    if ready is not conns[k] and not conns[k].poll():
                        raise _died(processes[k], pending[k])
                    try:
                        index, outputs, error = conns[k].recv()
                    except (EOFError, OSError):
                        raise _died(processes[k], pending[k]) from None
                    if error is not None:
                        raise WorkerFailed(f"hf decoding worker {processes[k].name} failed on batch {index}:\n"
                                           f"{error}")
                    del pending[k]
                    give(k)
                    yield index, outputs
            finished = True
        finally:
            stop()


@contextmanager
def _signals_blocked():
    """SIGINT and SIGTERM held back for the block (delivered after it)."""
    signals = {signal.SIGINT, signal.SIGTERM}
    before = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


@contextmanager
def _reaped_on_sigterm(stop: Callable[[], None]):
    """SIGTERM during the block runs ``stop`` first, then what SIGTERM did before (the default: die of it)."""
    previous = signal.getsignal(signal.SIGTERM)  # None: set outside Python, left alone like SIG_IGN
    if threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None):
        yield
        return

    def handler(signum, frame):
        stop()
        signal.signal(signum, previous)
        if callable(previous):
            previous(signum, frame)
        else:
            os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, previous)
