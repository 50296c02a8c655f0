"""Security headers on every console response, and the same-origin check for its two POSTs."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "content_security_policy", "same_origin"]


def content_security_policy(stylesheet: str) -> str:
    """A policy that allows this one inline stylesheet and nothing else: no script at all."""
    digest = base64.b64encode(hashlib.sha256(stylesheet.encode()).digest()).decode()
    return (
        "default-src 'none'; "
        f"style-src 'sha256-{digest}'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeaders:
    """ASGI middleware adding the console's headers to every response it sends."""

    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self.app = app
        self.headers = {
            # Pages show personal data (masked) and must not linger in caches or history.
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": policy,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def same_origin(request: Request, *, public_url: str) -> bool:
    """Whether a POST comes from a console page of this site (the CSRF guard).

    Browsers say where a request comes from in Sec-Fetch-Site; that decides when present. Under
    Referrer-Policy no-referrer they send `Origin: null` on form posts, so Origin counts only
    without it (older browsers, other clients), and must then be this site's, or the public
    URL's behind a proxy. A request with neither is refused.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    if not origin:
        return False
    own = {f"{request.url.scheme}://{request.url.netloc}"}
    if public_url:
        parts = urlsplit(public_url)
        own.add(f"{parts.scheme}://{parts.netloc}")
    return origin in own
