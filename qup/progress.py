"""Progress that reads well in a terminal and in a log.

On a terminal it is a tqdm bar. When stderr is a file or a pipe (DVC's and CI's logs), redraws
with carriage returns would fill the log, so it writes one plain line every ``interval`` seconds
and one when it ends instead.

A sharded job's bar moves as each request finishes, not once per shard: while a shard runs
(``shard_progress``), an engine calls ``advance`` with each finished request's completions, and the
bar moves by as much, never past the shard's own share, which it reaches when the shard ends.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

LOG_INTERVAL = 10.0  # seconds between two progress lines in a log


class LogProgress:
    """The part of tqdm's interface qup uses, written as a line at a time."""

    def __init__(self, iterable: Iterable | None = None, *, total: float | None = None, desc: str = "",
                 unit: str = "it", initial: float = 0, interval: float = LOG_INTERVAL, stream=None):
        self.iterable, self.desc, self.unit, self.interval = iterable, desc, unit, interval
        self.total = total if total is not None or iterable is None else _length(iterable)
        self.n, self.start_n = initial, initial
        self.stream = stream or sys.stderr
        self.started = self.last_line = time.monotonic()
        self.postfix = ""
        self.closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        if time.monotonic() - self.last_line >= self.interval:
            self._line()

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def write(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._line(final=True)

    def _line(self, final: bool = False) -> None:
        self.last_line = now = time.monotonic()
        elapsed = now - self.started
        rate = (self.n - self.start_n) / elapsed if elapsed > 0 else 0.0
        done = f"{self.n:g}/{self.total:g} {self.unit}" if self.total else f"{self.n:g} {self.unit}"
        if self.total:
            done += f" ({100 * self.n / self.total:.0f}%)"
        parts = [done, f"{rate:.1f} {self.unit}/s", f"{elapsed:.0f}s"]
        if not final and self.total and rate > 0:
            parts.append(f"ETA {(self.total - self.n) / rate:.0f}s")
        if self.postfix:
            parts.append(self.postfix)
        print(f"{self.desc}: {', '.join(parts)}" + (" done" if final else ""), file=self.stream, flush=True)


def _length(iterable) -> int | None:
    try:
        return len(iterable)
    except TypeError:
        return None


def progress(iterable: Iterable | None = None, *, total: float | None = None, desc: str = "", unit: str = "it",
             initial: float = 0, disable: bool = False):
    """A tqdm bar on a terminal, a line every ``LOG_INTERVAL`` seconds in a log, or nothing when ``disable``."""
    if disable or sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, disable=disable,
                    dynamic_ncols=True)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, initial=initial)


class _Shard:
    """The bar of the shard running now, its share of the bar and how much of it requests moved."""

    def __init__(self, bar, units: float):
        self.bar, self.units, self.moved = bar, units, 0.0


_CURRENT: _Shard | None = None
_LOCK = threading.Lock()


@contextmanager
def shard_progress(bar, units: float):
    """While a shard worth ``units`` of ``bar`` runs, ``advance`` moves ``bar``; on leaving, the bar has moved by
    exactly ``units`` (the rest when the shard finished, none when it failed)."""
    global _CURRENT
    shard = _Shard(bar, units)
    with _LOCK:
        outer, _CURRENT = _CURRENT, shard
    finished = False
    try:
        yield shard
        finished = True
    finally:
        with _LOCK:
            _CURRENT = outer
            rest = units - shard.moved if finished else 0
        if rest > 0:
            bar.update(rest)


def advance(n: float) -> None:
    """``n`` more units of the running shard are done (nothing when no sharded job runs)."""
    with _LOCK:
        shard = _CURRENT
        step = min(n, shard.units - shard.moved) if shard is not None else 0
        if step > 0:
            shard.moved += step
    if step > 0:
        shard.bar.update(step)
