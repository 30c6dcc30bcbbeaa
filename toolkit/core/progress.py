"""Progress and status lines for long work, written to stderr so stdout stays for results."""

from __future__ import annotations

import sys
import time

from toolkit.core.errors import one_line


def log(message: str) -> None:
    """A status line on stderr; a path in it that holds a newline or a control character is shown
    escaped (``errors.one_line``), so a line stays one line."""
    print(one_line(message), file=sys.stderr, flush=True)


class Progress:
    """A progress bar: redrawn in place on a terminal; otherwise (logs, CI) a line each time another
    ``1 / steps`` of the work is done."""

    def __init__(self, total: int, label: str, unit: str = "", steps: int = 10) -> None:
        self.total, self.label, self.unit, self.steps = max(int(total), 0), label, unit, steps
        self.done = 0
        self._start = time.perf_counter()
        self._tty = sys.stderr.isatty()
        self._last_step = 0
        self._last_draw = 0.0

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if self._tty:
            if now - self._last_draw >= 0.1 or done >= self.total > 0:
                self._last_draw = now
                sys.stderr.write("\r" + self._line())
                sys.stderr.flush()
        elif self.total:
            step = min(self.steps, done * self.steps // self.total)
            if step > self._last_step:
                self._last_step = step
                log(self._line())

    def close(self) -> None:
        if self._tty:
            sys.stderr.write("\r" + self._line() + "\n")
            sys.stderr.flush()

    def _line(self) -> str:
        elapsed = time.perf_counter() - self._start
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            counts = f"{_fmt(self.done, self.unit)}/{_fmt(self.total, self.unit)}"
            return f"{self.label} [{bar:<30}] {frac:4.0%} {counts} {elapsed:5.1f}s"
        return f"{self.label} {_fmt(self.done, self.unit)} {elapsed:5.1f}s"


def _fmt(n: int, unit: str) -> str:
    if unit == "B":
        return f"{n / 1e6:.1f} MB"
    return f"{n:,}{unit}"
