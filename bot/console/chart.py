"""Horizontal bar charts as plain geometry; templates/_chart.html draws them as inline SVG.

Server-side and script-free: each bar carries its label, its number and its own <title>, so the
chart reads the same to a screen reader and to a test querying the DOM.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.support_cli import format_percent

__all__ = ["Bar", "BarChart", "bar_chart"]

LABEL_WIDTH = 190
PLOT_WIDTH = 380
VALUE_WIDTH = 130
ROW_HEIGHT = 28
BAR_HEIGHT = 18
MIN_BAR_WIDTH = 2


@dataclass(frozen=True)
class Bar:
    """One bar: what it counts, how many, where it sits and the text beside it."""

    label: str
    value: int
    caption: str
    y: int
    width: int

    @property
    def text_y(self) -> int:
        """The baseline of the bar's label and caption, centred on the bar."""
        return self.y + BAR_HEIGHT - 4


@dataclass(frozen=True)
class BarChart:
    """A titled horizontal bar chart, sized to its bars."""

    name: str
    title: str
    bars: list[Bar]
    label_width: int = LABEL_WIDTH
    bar_height: int = BAR_HEIGHT

    @property
    def width(self) -> int:
        """The drawing's width in pixels."""
        return LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH

    @property
    def height(self) -> int:
        """The drawing's height in pixels: one row per bar, at least one row."""
        return ROW_HEIGHT * max(1, len(self.bars))

    @property
    def caption_x(self) -> int:
        """Where the numbers start: after the longest possible bar."""
        return LABEL_WIDTH + PLOT_WIDTH + 8


def bar_chart(
    name: str, title: str, counts: list[tuple[str, int]], *, percent_of: int | None = None
) -> BarChart:
    """A chart of `counts` scaled to the largest; captions add a percentage of `percent_of`."""
    largest = max((value for _, value in counts), default=0)
    bars = []
    for row, (label, value) in enumerate(counts):
        width = 0
        if largest > 0 and value > 0:
            # At least a sliver, so a small non-zero count is never drawn as nothing.
            width = max(MIN_BAR_WIDTH, round(value * PLOT_WIDTH / largest))
        caption = str(value)
        if percent_of is not None:
            caption += f" ({format_percent(value, percent_of)})"
        bars.append(Bar(label=label, value=value, caption=caption, y=row * ROW_HEIGHT, width=width))
    return BarChart(name=name, title=title, bars=bars)
