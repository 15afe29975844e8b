"""One shape of progress for every stage: the library reports, the command line draws.

A long library call takes ``progress``: a :data:`Progress`, a function of one
:class:`ProgressEvent`, or ``None`` (also ``False``) to report nothing. An event is either

* a **count** (``done`` given): ``done`` of ``total`` units of ``stage`` finished (``total=None``
  when it is not known in advance); its ``message`` is a short note shown beside the count (the
  current loss, images per second), not a line of its own; or
* a **line** (``done=None``): ``message`` is worth a line of its own (an epoch's result, a run
  finished or skipped).

The library never draws: ``fairskin.cli`` turns events into a rich bar on a terminal, into a count
line at least every 30 s otherwise, and into nothing with ``--quiet``. From Python, pass any
function, e.g. ``progress=print`` or ``progress=lambda e: log.info(e)``.

:func:`heartbeat` is the other half of "never quiet for long": a log that repeats which stage is
still running when nothing else has been said for a while (the demo and the long commands use it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Progress", "ProgressEvent", "counter", "heartbeat", "report", "track"]

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    """What a stage reports: a count (``done`` of ``total``, with a short note) or a line."""

    stage: str  # what is running, as a reader names it: "labelling", "training", "features (real)"
    done: int | None = None  # units finished so far; None: the event is a line (``message``)
    total: int | None = None  # units in all, None when unknown
    message: str = ""  # a count's note (shown beside it), or the line itself

    @property
    def is_line(self) -> bool:
        return self.done is None

    def __str__(self) -> str:
        if self.is_line:
            return self.message
        count = f"{self.done} of {self.total}" if self.total is not None else str(self.done)
        return f"{self.stage}: {count}" + (f" ({self.message})" if self.message else "")


#: the one progress callback shape of the library
Progress = Callable[[ProgressEvent], None]


def report(progress: Progress | None, stage: str, done: int | None = None, total: int | None = None,
           message: str = "") -> None:
    """Send one event to ``progress`` (nothing when it is ``None`` or ``False``)."""
    if progress:
        progress(ProgressEvent(stage, done, total, message))


def counter(progress: Progress | None, stage: str, total: int | None) -> Callable[..., None]:
    """A function to call once per unit finished: each call reports the next count of ``stage``
    (``message=`` a note beside it). Starts by reporting 0 of ``total``, so a bar appears before
    the first unit is done."""
    state = {"done": 0}
    report(progress, stage, 0, total)

    def tick(message: str = "", advance: int = 1) -> None:
        state["done"] += advance
        report(progress, stage, state["done"], total, message)

    return tick


def track(items: Iterable[T], progress: Progress | None, stage: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items``, reporting each one as finished once the loop body has run for it."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    tick = counter(progress, stage, total)
    for item in items:
        yield item
        tick()


@contextmanager
def heartbeat(log, every: float | None = 30.0, stage: str = "starting"):
    """Yield a ``log`` that also remembers the last stage announced (a line starting ``[N]``); while
    the block runs, a thread logs "still running" for that stage whenever ``every`` seconds pass
    without a line, so output that is not a terminal (a log file, CI) never goes quiet for longer.
    ``stage`` names what runs before the first announced one."""
    if not every:
        yield log
        return
    state = {"last": time.monotonic(), "stage": stage, "since": time.monotonic()}
    lock, stop = threading.Lock(), threading.Event()

    def say(msg, *args, **kwargs):
        with lock:
            text = str(msg).lstrip()
            if text.startswith("[") and "]" in text:
                state["stage"], state["since"] = text[1:text.index("]")], time.monotonic()
            state["last"] = time.monotonic()
            log(msg, *args, **kwargs)

    def beat():
        while not stop.wait(min(1.0, every / 4)):
            with lock:
                now = time.monotonic()
                if now - state["last"] >= every:
                    ran = int(now - state["since"])
                    log(f"    ... step [{state['stage']}] still running ({ran // 60}:{ran % 60:02d} min so far)")
                    state["last"] = now

    thread = threading.Thread(target=beat, name="fairskin-heartbeat", daemon=True)
    thread.start()
    try:
        yield say
    finally:
        stop.set()
        thread.join()
