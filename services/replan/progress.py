"""Progress of a replan: a bar with rate and ETA on a terminal, plain log lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

#: Width of the bar in characters.
BAR_WIDTH = 30
#: Seconds between log lines when the output is not a terminal.
LOG_EVERY_S = 10.0


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Counts finished tasks of the current stage and shows them on ``stream``.

    On a terminal one line is redrawn in place (``allocation [#####-----] 3/8 0.4/s ETA 0:12``);
    elsewhere (a log file, CI, Kubernetes) a line is written at the start and end of a stage and
    at most every :data:`LOG_EVERY_S` seconds in between. Tasks taken from a checkpoint count
    as done but not in the rate.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.terminal = stream.isatty() if terminal is None else terminal
        self._clock = clock
        self.stage = ""
        self.total = 0
        self.done = 0
        self.failed = 0
        self._resumed = 0
        self._started = 0.0
        self._last_log = 0.0

    def start(self, stage: str, total: int, resumed: int = 0) -> None:
        """Begin ``stage`` of ``total`` tasks, ``resumed`` of them already done."""
        self.stage, self.total, self.done, self.failed = stage, total, resumed, 0
        self._resumed = resumed
        self._started = self._last_log = self._clock()
        if not self.terminal:
            note = f" ({resumed} from the checkpoint)" if resumed else ""
            self._write(f"{stage}: {total} tasks{note}")
        self._show()

    def advance(self, ok: bool = True) -> None:
        """One more task finished (``ok`` False: it failed)."""
        self.done += 1
        self.failed += not ok
        self._show()

    def finish(self) -> None:
        """End the stage (and the terminal's line)."""
        if self.terminal:
            self._show(force=True)
            self.stream.write("\n")
            self.stream.flush()
        else:
            self._write(self.line())

    def line(self) -> str:
        """The stage's state in one line."""
        elapsed = self._clock() - self._started
        fresh = self.done - self._resumed
        rate = fresh / elapsed if elapsed > 0 else 0.0
        left = self.total - self.done
        eta = _clock(left / rate) if rate > 0 else "?"
        failed = f", {self.failed} failed" if self.failed else ""
        if self.terminal:
            filled = BAR_WIDTH * self.done // max(self.total, 1)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            return (
                f"{self.stage:<10} [{bar}] {self.done}/{self.total} {rate:.2f}/s ETA {eta}{failed}"
            )
        return (
            f"{self.stage}: {self.done}/{self.total} done{failed}, {rate:.2f}/s, "
            f"elapsed {_clock(elapsed)}, ETA {eta}"
        )

    def _show(self, force: bool = False) -> None:
        if self.terminal:
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
            return
        now = self._clock()
        if force or now - self._last_log >= LOG_EVERY_S:
            self._last_log = now
            self._write(self.line())

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
