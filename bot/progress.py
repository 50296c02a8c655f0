"""A progress line on stderr for long commands, shown only to a person watching a terminal.

On a terminal the line is redrawn in place; forced (`--progress`) onto a pipe or a file, each
update is a line of its own, so logs stay readable. stdout is left alone: it carries results.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Shows "label: text" updates on stderr while a long command runs."""

    def __init__(self, label: str, *, force: bool = False, stream: TextIO | None = None) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._in_place = self._stream.isatty()
        self.enabled = force or self._in_place
        self._drawn = False

    def update(self, text: str) -> None:
        """Show the latest state of the work."""
        if not self.enabled:
            return
        line = f"{self._label}: {text}"
        if self._in_place:
            # \r back to the start, ESC[K clears what a longer earlier line left behind.
            self._stream.write(f"\r{line}\x1b[K")
            self._drawn = True
        else:
            self._stream.write(f"{line}\n")
        self._stream.flush()

    def done(self) -> None:
        """End the progress line, so what is printed next starts on a line of its own."""
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.done()
