"""The support console served by a real uvicorn on 127.0.0.1, over flows the real Runner played.

The database is the one `kycbot timeline` and `kycbot stats` are tested on
(tests/bot/test_support_cli.py): verified, wrong-OTP, abandoned, provider-down and two-days-old
verifications, with every number and OTP they used kept for the privacy scans.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from telegram.ext import ApplicationBuilder

from bot.config import Settings, load_settings
from bot.console import console_mount
from bot.webapp import web_app
from storage import Database
from tests.bot.test_support_cli import KEYS, Store, _fill
from tests.scenario_tools import spaced

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

TOKEN = "console-token-for-the-tests-0123"
PREFIX = "/console"
START_SECONDS = 10.0
# `playwright install` is never run: the browser is Debian's (`.ci/run` installs it with apt).
CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 15_000


@dataclass(frozen=True)
class Console:
    """A running console: its site's address and the store behind it."""

    origin: str
    store: Store

    @property
    def url(self) -> str:
        """The console's own address."""
        return self.origin + PREFIX

    @contextlib.contextmanager
    def signed_in(self) -> Iterator[httpx.Client]:
        """An HTTP client holding a session, as a browser would after signing in."""
        with httpx.Client(base_url=self.origin, timeout=10) as client:
            response = client.post(
                f"{PREFIX}/sign-in", data={"token": TOKEN}, headers={"Origin": self.origin}
            )
            assert response.status_code == 303, response.text
            yield client


def settings_for(store: Store, **environ: str) -> Settings:
    """The settings of a console over `store`: the token, and what the test adds."""
    url = f"sqlite+aiosqlite:///{store.path}"
    extra = {"KYCBOT_DATABASE__URL": url, "KYCBOT_CONSOLE__TOKEN": TOKEN, **environ}
    return load_settings(None, KEYS | {k: v for k, v in extra.items() if v})


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The bot's web app, with the console if `settings` enable it; yields its origin."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    # uvicorn leaves signal handling alone outside the main thread.
    servers: list[uvicorn.Server] = []

    async def healthy() -> bool:
        return True

    async def run() -> None:
        # The Database belongs to the server's own event loop, as in `kycbot run`.
        database = Database(settings.database.url)
        try:
            console = None
            if settings.console.enabled:
                console = console_mount(settings.console, database=database, zone=settings.zone())
            application = ApplicationBuilder().token("123:abc").updater(None).build()
            app = web_app(
                application=application,
                webhook_path=None,
                secret_token="",
                healthy=healthy,
                console=console,
            )
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
            servers.append(server)
            await server.serve(sockets=[listening])
        finally:
            await database.dispose()

    thread = threading.Thread(target=asyncio.run, args=(run(),), name="console-server")
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not (servers and servers[0].started):
        assert thread.is_alive(), "the console server stopped while starting"
        assert time.monotonic() < deadline, "the console server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        servers[0].should_exit = True
        thread.join(START_SECONDS)
        listening.close()


def run_apart(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `work()` to completion on an event loop in a thread of its own.

    Playwright's sync API keeps an event loop running in the test's thread, where
    asyncio.run() is refused.
    """
    with ThreadPoolExecutor(max_workers=1) as apart:
        apart.submit(lambda: asyncio.run(work())).result()


def fill_store(folder: Path) -> Store:
    """A fresh database filled by the scripted flows of the support CLI's tests."""
    store = Store(folder / "kyc.sqlite3", folder / "empty.sqlite3", [], [])
    run_apart(lambda: _fill(store))
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The scripted flows' database, one per test module."""
    return fill_store(tmp_path_factory.mktemp("console"))


@pytest.fixture(scope="module")
def console(store: Store) -> Iterator[Console]:
    """The console over `store`, served for the whole module."""
    with serve(settings_for(store, KYCBOT_CONSOLE__REFRESH_SECONDS="1")) as origin:
        yield Console(origin=origin, store=store)


def assert_nothing_secret(store: Store, text: str) -> None:
    """No full Aadhaar number (plain or spaced) and no OTP used by the flows appears in `text`."""
    for number in store.numbers:
        assert number not in text
        assert spaced(number) not in text
    for otp in store.otps:
        assert re.search(rf"(?<!\d){otp}(?!\d)", text) is None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, one per test module; skips when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab with no cookies; fails the test on any Content-Security-Policy violation."""
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    violations: list[str] = []

    def on_console(text: str) -> None:
        if "Content Security Policy" in text:
            violations.append(text)

    tab.on("console", lambda message: on_console(message.text))
    try:
        yield tab
        assert violations == []
    finally:
        context.close()


def sign_in(page: Page, console: Console, token: str = TOKEN) -> int:
    """Type `token` into the sign-in form shown; the status of the page that answers."""
    page.fill("input[name=token]", token)
    with page.expect_navigation() as navigation:
        page.click("#sign-in button[type=submit]")
    response = navigation.value
    assert response is not None
    assert page.url.startswith(console.url)
    return response.status
