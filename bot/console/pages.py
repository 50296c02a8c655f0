"""The console's read-only pages: the verification list, one verification, the funnel, live.

Every page reads through the support queries in storage/ (named columns only, masked numbers
only) and renders a template; query parameters are checked first, and a bad one is a 400 page
that says which and why.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlencode

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bot.console.chart import bar_chart
from bot.console.render import Renderer
from bot.logs_cli import parse_since
from bot.support_cli import format_percent, percentile
from flows import AadhaarNumber, Method, State, parse_aadhaar
from storage import Database
from storage.flow_log import FlowFilter, latest_events
from storage.funnel import funnel_stats
from storage.timeline import timeline_of_verification
from storage.verification_list import VerificationFilter, list_verifications

__all__ = ["PAGE_SIZE", "Pages"]

log = logging.getLogger(__name__)
PAGE_SIZE = 50
LIVE_EVENTS = 50
STATES = tuple(state.value for state in State if state is not State.IDLE)
METHODS = tuple(method.value for method in Method)
# Offered in the provider box; any other name can still be typed.
PROVIDERS = ("simulator", "sandbox", "accuauth", "idto")
T = TypeVar("T")
Page = Callable[[Request], Awaitable[HTMLResponse]]


class BadQuery(ValueError):
    """A query parameter the page cannot use; the message says which and why."""


class Unavailable(Exception):
    """The database could not be read."""


def _text(query: QueryParams, name: str, *, longest: int = 64) -> str | None:
    value = query.get(name, "").strip()
    if len(value) > longest:
        raise BadQuery(f"{name}: at most {longest} characters")
    return value or None


def _user(query: QueryParams) -> str | None:
    value = _text(query, "user")
    if value is not None and isinstance(parse_aadhaar(value), AadhaarNumber):
        # Support may paste the number a user quoted to them. Nothing is stored by number, and
        # the page must not echo it back: say what to search by instead.
        raise BadQuery(
            "user: that looks like an Aadhaar number, which the console never searches by; "
            "use the Telegram user id (telegram:12345) or the verification's id"
        )
    return value


def _choice(query: QueryParams, name: str, allowed: tuple[str, ...]) -> str | None:
    value = _text(query, name)
    if value is not None and value not in allowed:
        raise BadQuery(f"unknown {name} {value!r}: use one of {', '.join(allowed)}")
    return value


def _since(query: QueryParams, default: str | None = None) -> datetime | None:
    text = _text(query, "since") or default
    if text is None:
        return None
    try:
        return datetime.now(UTC) - parse_since(text)
    except ValueError:
        raise BadQuery(f"bad since {text!r}: use 30m, 24h or 7d") from None


def _page_number(query: QueryParams) -> int:
    text = _text(query, "page") or "1"
    if not text.isdigit() or int(text) < 1:
        raise BadQuery(f"bad page {text!r}: use 1, 2, 3...")
    return int(text)


class Pages:
    """The handlers of the read-only pages, over one database and one renderer."""

    def __init__(self, *, database: Database, renderer: Renderer, refresh_seconds: int) -> None:
        self.database = database
        self.renderer = renderer
        self.refresh_seconds = refresh_seconds

    async def _read(self, unit: Callable[[Connection], T]) -> T:
        try:
            return await self.database.run(unit)
        except (OSError, SQLAlchemyError) as error:
            # The class only: a driver's message may quote the URL with its password.
            log.error("console: cannot read the database: %s", type(error).__name__)
            raise Unavailable from None

    def _problem(self, status: int, title: str, text: str) -> HTMLResponse:
        return self.renderer.page("problem.html", status=status, title=title, text=text)

    async def guarded(self, page: Page, request: Request) -> HTMLResponse:
        """`page`'s response, or the page for a bad query (400) or an unreadable database."""
        try:
            return await page(request)
        except BadQuery as problem:
            return self._problem(400, "This filter cannot be used", str(problem))
        except Unavailable:
            return self._problem(503, "Please try again", "The database cannot be read now.")

    async def verifications(self, request: Request) -> HTMLResponse:
        """The verifications, newest first, filtered by a GET form and paged."""
        query = request.query_params
        wanted = VerificationFilter(
            state=_choice(query, "state", STATES),
            provider=_text(query, "provider", longest=32),
            method=_choice(query, "method", METHODS),
            since=_since(query),
            user=_user(query),
        )
        number = _page_number(query)
        found = await self._read(
            functools.partial(
                list_verifications, wanted=wanted, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE
            )
        )
        form = {
            name: query.get(name, "").strip()
            for name in ("state", "provider", "method", "since", "user")
        }
        kept = {name: value for name, value in form.items() if value}

        def page_link(to: int) -> str:
            return "?" + urlencode({**kept, "page": to})

        return self.renderer.page(
            "verifications.html",
            form=form,
            found=found,
            number=number,
            previous=page_link(number - 1) if number > 1 else None,
            following=page_link(number + 1) if found.has_next else None,
            states=STATES,
            methods=METHODS,
            providers=PROVIDERS,
        )

    async def verification(self, request: Request) -> HTMLResponse:
        """One verification: its state, deadline, counters, consents, results and events."""
        wanted = int(request.path_params["verification_id"])
        timeline = await self._read(
            functools.partial(timeline_of_verification, verification_id=wanted)
        )
        if timeline is None:
            return self._problem(404, "No such verification", f"There is no verification {wanted}.")
        user = timeline.user
        standing = user.standing
        now = datetime.now(UTC)
        return self.renderer.page(
            "verification.html",
            user=user,
            otp_requests_today=standing.otp_requests_today(now),
            failures_today=standing.failures_today(now),
            verification=next(v for v in timeline.verifications if v.id == wanted),
            others=[v for v in timeline.verifications if v.id != wanted],
            consents=[c for c in timeline.consents if c.verification_id == wanted],
            results=[r for r in timeline.results if r.verification_id == wanted],
            events=[e for e in timeline.events if e.verification_id == wanted],
        )

    async def funnel(self, request: Request) -> HTMLResponse:
        """The funnel, the failures and the provider latencies as inline SVG charts."""
        since_text = _text(request.query_params, "since") or "24h"
        since = _since(request.query_params, default="24h")
        assert since is not None
        stats = await self._read(functools.partial(funnel_stats, since=since))
        failures = sorted(stats.failures.items(), key=lambda item: (-item[1], item[0]))
        latencies: list[tuple[str, int]] = []
        providers = []
        for name, calls in stats.providers.items():
            p50 = percentile(calls.latencies_ms, 0.5)
            p95 = percentile(calls.latencies_ms, 0.95)
            latencies += [(f"{name} p50 ms", p50), (f"{name} p95 ms", p95)]
            providers.append(
                (
                    name,
                    len(calls.latencies_ms),
                    p50,
                    p95,
                    format_percent(calls.errors, len(calls.latencies_ms)),
                )
            )
        return self.renderer.page(
            "funnel.html",
            since=since_text,
            stats=stats,
            funnel=bar_chart(
                "funnel", "Verification funnel", stats.steps, percent_of=stats.started
            ),
            failures=bar_chart("failures", "Failures by outcome", failures),
            latency=bar_chart("latency", "Provider latency (ms)", latencies),
            providers=providers,
        )

    async def live(self, request: Request) -> HTMLResponse:
        """The newest flow events, newest first; the page reloads itself."""
        query = request.query_params
        flow = FlowFilter(
            user=_user(query),
            outcome=_text(query, "outcome", longest=48),
            provider=_text(query, "provider", longest=32),
        )
        events, _ = await self._read(functools.partial(latest_events, flow=flow, limit=LIVE_EVENTS))
        events.reverse()
        return self.renderer.page(
            "live.html",
            events=events,
            form={name: query.get(name, "").strip() for name in ("user", "outcome", "provider")},
            refresh_seconds=self.refresh_seconds,
            loaded_at=datetime.now(UTC),
        )
