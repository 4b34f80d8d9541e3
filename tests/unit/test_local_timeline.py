"""local/timeline.py: a step that outlasts the timeline's patience says what it waits for."""

import io
import threading

import pytest

from local.timeline import Timeline, WaitTimeout


class Recorded(io.StringIO):
    """A non-terminal stream that signals each write (so the test waits on output, not on time)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Condition()

    def write(self, text: str) -> int:
        with self.written:
            count = super().write(text)
            self.written.notify_all()
        return count

    def wait_for(self, text: str) -> bool:
        with self.written:
            return self.written.wait_for(lambda: text in self.getvalue(), timeout=30)


def test_a_slow_step_says_what_it_waits_for():
    stream = Recorded()
    timeline = Timeline(stream)
    timeline.patience = 0.0
    with timeline.step("the broker to start"):
        assert stream.wait_for("… waiting for the broker to start (")
    timeline.say("done")
    assert stream.getvalue().endswith("] done\n")


def test_a_quick_step_says_nothing():
    stream = Recorded()
    timeline = Timeline(stream)
    timeline.patience = 3600.0
    with timeline.step("anything"):
        pass
    assert stream.getvalue() == ""


def test_wait_names_what_it_gave_up_on():
    timeline = Timeline(Recorded())
    timeline.patience = 3600.0
    with pytest.raises(WaitTimeout, match="gave up after 0s waiting for the workflow"):
        timeline.wait("the workflow", lambda: None, timeout=0.0, every=0.0)
    assert timeline.wait("a value", lambda: 42) == 42
