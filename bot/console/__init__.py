"""The read-only web support console: verifications, one verification's timeline, the funnel
as SVG, and a live view of flow events, behind a token sign-in.

`console_mount` builds it for `bot.webapp.web_app`; it shows masked numbers only, because the
queries it reads through never select anything else.
"""

from bot.console.app import COOKIE, console_mount

__all__ = ["COOKIE", "console_mount"]
