"""DigiLocker over Telegram: the real `kycbot run` polling the fake Bot API, FakeIdto as IDTO, and
a browser (httpx) that opens the bot's link and comes back to the bot's own web app, which in
polling mode serves DigiLocker's way back on [web]'s port.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from flows.catalogue import PromptKey
from tests.bot.telegram_process import BotWorld, Person, begin, free_port, say, telegram_world
from tests.fakes.idto_server import AUTHORIZE_PATH, REFERENCE_PATH, FakeIdto

K = PromptKey


@pytest.fixture
async def idto() -> AsyncIterator[FakeIdto]:
    async with FakeIdto() as fake:
        yield fake


@pytest.fixture
async def world(tmp_path: Path, idto: FakeIdto) -> AsyncIterator[BotWorld]:
    port = free_port()
    env = {
        "KYCBOT_FLOW__METHODS": "aadhaar_otp,digilocker",
        "KYCBOT_WEB__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "KYCBOT_WEB__LISTEN": "127.0.0.1",
        "KYCBOT_WEB__PORT": str(port),
        "KYCBOT_PROVIDERS__IDTO__BASE_URL": idto.url,
        "KYCBOT_PROVIDERS__IDTO__API_KEY": idto.api_key,
        "KYCBOT_PROVIDERS__IDTO__CLIENT_ID": idto.client_id,
    }
    async with telegram_world(tmp_path / "kycbot", **env) as bots:
        yield bots


async def test_a_user_verifies_with_digilocker_in_telegram(world: BotWorld, idto: FakeIdto) -> None:
    bot = await world.start()
    back = await verify_with_digilocker(world, idto)
    await bot.stop()
    assert_digilocker_record(world, idto, back)


async def test_in_webhook_mode_the_webhook_server_takes_the_return(
    world: BotWorld, idto: FakeIdto
) -> None:
    # One server for both: Telegram's webhook and DigiLocker's way back; [web]'s port stays free.
    port = free_port()
    bot = await world.start(
        KYCBOT_TELEGRAM__MODE="webhook",
        KYCBOT_TELEGRAM__WEBHOOK__URL=f"http://127.0.0.1:{port}/telegram",
        KYCBOT_TELEGRAM__WEBHOOK__PORT=str(port),
        KYCBOT_TELEGRAM__WEBHOOK__SECRET_TOKEN=secrets.token_urlsafe(24),
        KYCBOT_WEB__PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    back = await verify_with_digilocker(world, idto, public_url=f"http://127.0.0.1:{port}")
    await bot.stop()
    assert_digilocker_record(world, idto, back)


async def verify_with_digilocker(
    world: BotWorld, idto: FakeIdto, *, public_url: str | None = None
) -> str:
    """A user chooses DigiLocker, allows access and comes back: verified, once. The return URL."""
    person = Person(world.fake, 2001)
    public_url = public_url or world.env["KYCBOT_WEB__PUBLIC_URL"]

    notice = await begin(person)
    person.presses(notice, say(K.BUTTON_AGREE))
    question = await person.sees(say(K.METHOD_QUESTION))
    assert question.labels == [say(K.BUTTON_USE_OTP), say(K.BUTTON_USE_DIGILOCKER)]

    person.presses(question, say(K.BUTTON_USE_DIGILOCKER))
    link = await person.sees(say(K.BUTTON_OPEN_DIGILOCKER))
    opener = link.button(say(K.BUTTON_OPEN_DIGILOCKER))
    assert opener.callback_data is None
    assert opener.url is not None
    assert opener.url.startswith(idto.url + AUTHORIZE_PATH), link.describe()
    # The link button comes first, then the other way to verify.
    assert link.labels == [say(K.BUTTON_OPEN_DIGILOCKER), say(K.BUTTON_USE_OTP)]
    assert link.protect_content

    back = await idto.consent(opener.url)
    assert back.startswith(public_url + "/digilocker?"), back
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as browser:
        received = await browser.get(back)
        assert received.status_code == 200, received.text
        assert "DigiLocker sign-in received" in received.text
        assert received.headers["referrer-policy"] == "no-referrer"

        done = await person.sees(say(K.DIGILOCKER_VERIFIED))
        assert done.protect_content
        shown = len(person.texts)

        replayed = await browser.get(back)
        assert replayed.status_code == 400, replayed.text
        assert "This link cannot be used" in replayed.text
    await asyncio.sleep(0.3)  # room for a wrong message to arrive
    assert len(person.texts) == shown
    assert len(idto.calls_to(REFERENCE_PATH)) == 1
    return back


def assert_digilocker_record(world: BotWorld, idto: FakeIdto, back: str) -> None:
    """A DigiLocker record without Aadhaar columns; no code, state or key in the files or log."""
    assert world.rows(
        "SELECT method, provider, aadhaar_masked, aadhaar_hmac, reference_sealed IS NOT NULL "
        "FROM kyc_result"
    ) == [("digilocker", "idto", None, None, 1)]
    query = parse_qs(urlsplit(back).query)
    log = world.log_text()
    # The log still works once the web app has started, and tells the return without its query.
    assert "-[DigiLockerReturned]-> fetching_digilocker" in log, log
    assert "digilocker return refused" in log, log
    files = [world.database.read_bytes(), *(path.read_bytes() for path in world.log_files)]
    for secret in (query["code"][0], query["state"][0], idto.api_key, *idto.references):
        assert secret not in log
        assert all(secret.encode() not in blob for blob in files)


async def test_digilocker_without_idto_credentials_does_not_start(world: BotWorld) -> None:
    finished = await world.run_to_exit(
        unset=("KYCBOT_PROVIDERS__IDTO__API_KEY", "KYCBOT_PROVIDERS__IDTO__CLIENT_ID")
    )
    assert finished.returncode == 2, finished
    assert "KYCBOT_PROVIDERS__IDTO__API_KEY" in finished.stderr, finished.stderr
