"""The console's templates: Jinja2 with autoescape, strict about undefined names."""

from __future__ import annotations

from datetime import datetime
from importlib.resources import files
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.responses import HTMLResponse

from bot.support_cli import format_when

__all__ = ["STYLESHEET", "Renderer"]

# Inlined into every page and allowed by its hash in the Content-Security-Policy: no extra
# route to protect, and no 'unsafe-inline'.
STYLESHEET = files("bot.console").joinpath("templates/console.css").read_text(encoding="utf-8")


class Renderer:
    """Renders the console's pages with the links, time zone and stylesheet they share."""

    def __init__(self, *, prefix: str, zone: ZoneInfo) -> None:
        self.prefix = prefix
        self.zone = zone
        self.environment = Environment(
            loader=PackageLoader("bot.console", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters["when"] = self._when
        self.environment.filters["dash"] = _dash

    def _when(self, moment: datetime | None) -> str:
        return format_when(moment, self.zone)

    def page(
        self, name: str, *, status: int = 200, signed_in: bool = True, **context: Any
    ) -> HTMLResponse:
        """The template `name` with `context`, as an HTML response with `status`.

        `signed_in` False leaves out the navigation and the sign-out button.
        """
        template = self.environment.get_template(name)
        body = template.render(
            prefix=self.prefix,
            stylesheet=Markup(STYLESHEET),  # noqa: S704 (our own file, not input)
            zone=self.zone.key,
            signed_in=signed_in,
            **context,
        )
        return HTMLResponse(body, status_code=status)


def _dash(value: object) -> str:
    return "-" if value is None or value == "" else str(value)
