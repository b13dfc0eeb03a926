"""Progress in a log: plain lines, never carriage-return redraws."""

import io

from qup.progress import LogProgress, progress


def test_in_a_log_progress_writes_plain_lines_with_rate_and_eta():
    stream = io.StringIO()
    bar = LogProgress(total=4, desc="nll", unit="trace", interval=0, stream=stream)
    with bar:
        bar.update(2)
        bar.set_postfix(loss="0.5")
        bar.update(2)
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0].startswith("nll: 2/4 trace (50%)") and "ETA" in lines[0]
    assert lines[-1].startswith("nll: 4/4 trace (100%)") and lines[-1].endswith("loss=0.5 done")


def test_iterating_counts_every_item_and_ends_with_one_line():
    stream = io.StringIO()
    seen = list(LogProgress(range(3), desc="train", unit="step", interval=3600, stream=stream))
    assert seen == [0, 1, 2]
    assert len(stream.getvalue().splitlines()) == 1  # nothing but the closing line
    assert stream.getvalue().startswith("train: 3/3 step (100%)")


def test_progress_picks_log_lines_when_stderr_is_not_a_terminal(capsys):
    # pytest captures stderr, so it is not a terminal here
    assert isinstance(progress(total=1, desc="x"), LogProgress)
    assert not isinstance(progress(total=1, desc="x", disable=True), LogProgress)


def test_a_shard_moves_its_bar_as_requests_finish_never_past_its_share():
    from qup.progress import advance, shard_progress

    stream = io.StringIO()
    bar = LogProgress(total=10, desc="native", unit="sample", interval=0, stream=stream)
    advance(3)  # no shard running: nothing moves
    with shard_progress(bar, 4):
        advance(2)
        assert bar.n == 2  # a finished request moves the bar at once
        advance(5)
        assert bar.n == 4  # never past the shard's share
    with shard_progress(bar, 6):
        advance(1)
    assert bar.n == 10  # a finished shard fills its share
    try:
        with shard_progress(bar, 5):
            advance(1)
            raise RuntimeError("the shard failed")
    except RuntimeError:
        pass
    assert bar.n == 11  # a failed shard keeps what its requests moved, no more
    assert stream.getvalue().splitlines()[0].startswith("native: 2/10 sample")
