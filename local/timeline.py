"""A readable timeline for the demo: elapsed time, one line per step, a spinner while waiting."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(Exception):
    pass


class Timeline:
    def __init__(self, stream=None) -> None:  # noqa: ANN001 - any text stream
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.interactive = self.stream.isatty()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        self.stream.write(f"[{self.elapsed():6.2f}s] {message}\n")
        self.stream.flush()

    def wait(
        self, what: str, condition: Callable[[], T | None], timeout: float = 30.0, every: float = 0.1
    ) -> T:
        """Poll ``condition`` until it returns something truthy, showing progress; raise on timeout."""
        spinner = itertools.cycle("|/-\\")
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                if self.interactive:
                    self.stream.write("\r\033[K")
                return result
            if time.monotonic() > deadline:
                if self.interactive:
                    self.stream.write("\r\033[K")
                raise WaitTimeout(f"gave up after {timeout:.0f}s waiting for {what}")
            if self.interactive:
                self.stream.write(f"\r[{self.elapsed():6.2f}s] {next(spinner)} waiting for {what} …")
                self.stream.flush()
            time.sleep(every)
