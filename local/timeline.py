"""A readable timeline for the demo: elapsed time, one line per step, and what it waits for.

A step that takes more than :attr:`Timeline.patience` (a second) says what it is waiting for:
on a terminal as a spinner on the current line, elsewhere (a log, CI) as a line of its own,
repeated every :attr:`Timeline.reminder` seconds while it lasts — so a slow machine never
looks like a hung one.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    pass


class Timeline:
    patience = 1.0
    reminder = 10.0

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.interactive = self.stream.isatty()
        self._lock = threading.Lock()
        self._spinning = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        with self._lock:
            self._clear()
            self.stream.write(f"[{self.elapsed():6.2f}s] {message}\n")
            self.stream.flush()

    def _clear(self) -> None:
        if self._spinning:
            self.stream.write("\r\033[K")
            self._spinning = False

    def _progress(self, what: str, since: float, spinner: Iterator[str]) -> None:
        """One progress mark for a step running since ``since`` (monotonic)."""
        with self._lock:
            if self.interactive:
                self.stream.write(f"\r[{self.elapsed():6.2f}s] {next(spinner)} waiting for {what} …")
                self._spinning = True
            else:
                self.stream.write(
                    f"[{self.elapsed():6.2f}s] … waiting for {what} ({time.monotonic() - since:.0f}s)\n"
                )
            self.stream.flush()

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Run the body; if it takes longer than a second, say that it waits for ``what``."""
        done = threading.Event()
        since = time.monotonic()

        def announce() -> None:
            spinner = itertools.cycle("|/-\\")
            pause = self.patience
            while not done.wait(pause):
                self._progress(what, since, spinner)
                pause = 0.1 if self.interactive else self.reminder

        thread = threading.Thread(target=announce, name="timeline-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            with self._lock:
                self._clear()
                self.stream.flush()

    def wait(
        self, what: str, condition: Callable[[], T | None], timeout: float = 30.0, every: float = 0.1
    ) -> T:
        """Poll ``condition`` until it returns something truthy, showing progress; raise on timeout."""
        deadline = time.monotonic() + timeout
        with self.step(what):
            while True:
                result = condition()
                if result:
                    return result
                if time.monotonic() > deadline:
                    raise WaitTimeout(f"gave up after {timeout:.0f}s waiting for {what}")
                time.sleep(every)
