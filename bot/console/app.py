"""The console as a Starlette mount: the sign-in gate in front of the read-only pages.

Every page answers 401 with the sign-in form until the browser holds a valid session cookie.
The only POSTs are sign-in and sign-out, each refused unless its Origin is this site's; the
cookie is HttpOnly and SameSite=Strict, Secure over https.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from bot.config_console import ConsoleSettings
from bot.console.auth import SessionSigner, SignInBrake
from bot.console.headers import SecurityHeaders, content_security_policy, same_origin
from bot.console.pages import Page, Pages
from bot.console.render import STYLESHEET, Renderer
from storage import Database

__all__ = ["COOKIE", "console_mount"]

log = logging.getLogger(__name__)
COOKIE = "kycbot_console"
# The sign-in form is one short field; anything bigger is not a sign-in.
FORM_LIMIT = 4096


class _FormTooLarge(Exception):
    """The posted form is larger than FORM_LIMIT."""


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded body's fields (first value of each), at most FORM_LIMIT bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise _FormTooLarge
    fields = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=8)
    return {name: values[0] for name, values in fields.items()}


class _Gate:
    """Sign-in, sign-out and the session check every page goes through."""

    def __init__(self, settings: ConsoleSettings, *, renderer: Renderer, public_url: str) -> None:
        self.prefix = settings.path
        self.signer = SessionSigner(
            settings.token.get_secret_value(), lifetime_seconds=settings.session_seconds
        )
        self.brake = SignInBrake()
        self.renderer = renderer
        self.public_url = public_url

    def signed_in(self, request: Request) -> bool:
        """Whether the request carries a valid session."""
        return self.signer.valid(request.cookies.get(COOKIE))

    def sign_in_page(
        self, request: Request, *, status: int = 401, message: str = "", after: str | None = None
    ) -> HTMLResponse:
        """The sign-in form, sending the browser to `after` (default: this page) on success."""
        if after is None:
            after = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return self.renderer.page(
            "signin.html",
            status=status,
            signed_in=False,
            message=message,
            after=self._safe_after(after),
        )

    def _safe_after(self, after: str) -> str:
        # Only a console path: never another site (//evil.example) nor another app's page.
        if after.startswith(self.prefix + "/") and not after.startswith("//") and "\\" not in after:
            return after
        return self.prefix + "/"

    def page(self, pages: Pages, page: Page) -> Page:
        """`page`, behind the session check."""

        async def gated(request: Request) -> HTMLResponse:
            if not self.signed_in(request):
                return self.sign_in_page(request)
            return await pages.guarded(page, request)

        return gated

    async def show_sign_in(self, request: Request) -> Response:
        """GET sign-in: the form, or the list for someone already signed in."""
        if self.signed_in(request):
            return RedirectResponse(self.prefix + "/", status_code=303)
        return self.sign_in_page(request, after=self.prefix + "/")

    async def sign_in(self, request: Request) -> Response:
        """POST sign-in: check the token; on success set the session cookie and go on."""
        if not same_origin(request, public_url=self.public_url):
            return self._cross_site()
        client = request.client.host if request.client else "?"
        wait = self.brake.retry_after(client)
        if wait:
            log.warning("console sign-in refused for %s: too many failures", client)
            refused = self.sign_in_page(
                request,
                status=429,
                message=f"Too many wrong tokens. Try again in {wait // 60 + 1} minutes.",
            )
            refused.headers["Retry-After"] = str(wait)
            return refused
        try:
            form = await _form(request)
        except _FormTooLarge:
            return self.renderer.page(
                "problem.html",
                status=413,
                signed_in=False,
                title="Too large",
                text="That is not a sign-in.",
            )
        after = form.get("after", self.prefix + "/")
        if not self.signer.token_matches(form.get("token", "")):
            self.brake.failed(client)
            # Never the token itself: a near miss says a lot about the real one.
            log.warning("console sign-in refused for %s: wrong token", client)
            return self.sign_in_page(request, message="That token is not right.", after=after)
        self.brake.succeeded(client)
        log.info("console sign-in for %s", client)
        response = RedirectResponse(self._safe_after(after), status_code=303)
        response.set_cookie(
            COOKIE,
            self.signer.issue(),
            max_age=self.signer.lifetime_seconds,
            path=self.prefix,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        """POST sign-out: end the session and show the sign-in form."""
        if not same_origin(request, public_url=self.public_url):
            return self._cross_site()
        self.signer.revoke(request.cookies.get(COOKIE))
        response = self.sign_in_page(
            request, message="You are signed out.", after=self.prefix + "/"
        )
        response.delete_cookie(COOKIE, path=self.prefix, httponly=True, samesite="strict")
        return response

    async def elsewhere(self, request: Request) -> Response:
        """Any other console path: 401 before sign-in, so nothing is learnt from a 404."""
        if not self.signed_in(request):
            return self.sign_in_page(request, after=self.prefix + "/")
        return self.renderer.page(
            "problem.html", status=404, title="Not found", text="There is no such console page."
        )

    def _cross_site(self) -> HTMLResponse:
        log.warning("console POST refused: not from a console page (Origin)")
        return self.renderer.page(
            "problem.html",
            status=403,
            signed_in=False,
            title="Refused",
            text="This form was not sent from the console. Open the console and try again.",
        )


def console_mount(
    settings: ConsoleSettings, *, database: Database, zone: ZoneInfo, public_url: str = ""
) -> Mount:
    """The console at `settings.path`, for `web_app`; only for settings with a token."""
    if not settings.enabled:
        raise ValueError("the console needs console.token")
    renderer = Renderer(prefix=settings.path, zone=zone)
    gate = _Gate(settings, renderer=renderer, public_url=public_url)
    pages = Pages(database=database, renderer=renderer, refresh_seconds=settings.refresh_seconds)
    routes = [
        Route("/", gate.page(pages, pages.verifications), methods=["GET"]),
        Route(
            "/verifications/{verification_id:int}",
            gate.page(pages, pages.verification),
            methods=["GET"],
        ),
        Route("/funnel", gate.page(pages, pages.funnel), methods=["GET"]),
        Route("/live", gate.page(pages, pages.live), methods=["GET"]),
        Route("/sign-in", gate.show_sign_in, methods=["GET"]),
        Route("/sign-in", gate.sign_in, methods=["POST"]),
        Route("/sign-out", gate.sign_out, methods=["POST"]),
        Route("/{rest:path}", gate.elsewhere, methods=["GET"]),
    ]
    headers = Middleware(SecurityHeaders, policy=content_security_policy(STYLESHEET))
    return Mount(settings.path, app=Starlette(routes=routes, middleware=[headers]))
