"""The whole flow through the real runner and the real Sandbox client, against a fake Sandbox
on 127.0.0.1: what the user sees, and what the database and the logs never hold."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from bot.config import Settings, load_settings
from bot.runner import Runner
from flows import ConsentGiven, Event, NumberConfirmed, PromptKey, StartRequested, TextSent
from kyc.sandbox import SandboxProvider
from storage import Database, NumberVault, UserKey
from tests.fakes.channel import RecordingChannel
from tests.fakes.sandbox_server import API_KEY, API_SECRET, FakeSandbox, Fault, closed_port_url
from tests.scenario_tools import another_otp, leaks, masked, opening, sqlite_files, synthetic_number

K = PromptKey
USER = UserKey(channel="test", external_id="sandbox-1")
DOWN = opening(K.PROVIDER_DOWN)
UNAVAILABLE = opening(K.PROVIDER_UNAVAILABLE)


def settings() -> Settings:
    """Valid settings with fresh keys; provider calls cut off after 5 s."""
    environ = {
        "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
        "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "KYCBOT_FLOW__CALL_TIMEOUT_SECONDS": "5",
    }
    return load_settings(None, environ)


@dataclass
class World:
    """A runner over a real database, speaking to the fake Sandbox through the real client."""

    runner: Runner
    database: Database
    sandbox: FakeSandbox
    channel: RecordingChannel
    number: str
    user: UserKey = USER

    async def say(self, *events: Event) -> str:
        """Feed `events` to the runner; the last message the user saw."""
        for event in events:
            await self.runner.handle(self.user, event, self.channel)
        return self.channel.last

    async def ask_for_otp(self) -> str:
        """From /start to "Send OTP"; the last message the user saw."""
        return await self.say(
            StartRequested(), ConsentGiven(), TextSent(self.number), NumberConfirmed()
        )

    def otps(self) -> list[str]:
        """Every OTP the fake Sandbox sent."""
        return [sent.otp for sent in self.sandbox.sent]


@pytest.fixture
async def sandbox() -> AsyncIterator[FakeSandbox]:
    """A running fake Sandbox whose slow answers take 1 s."""
    async with FakeSandbox(slow_seconds=1.0) as fake:
        yield fake


def client(
    base_url: str,
    *,
    timeout: float = 2.0,
    secret: str = API_SECRET,
    scheme: Literal["raw", "bearer"] = "raw",
) -> SandboxProvider:
    """The real client pointed at `base_url`."""
    return SandboxProvider(
        base_url=base_url,
        api_key=API_KEY,
        api_secret=secret,
        api_version="1.0.0",
        authorization_scheme=scheme,
        reason="Onboarding KYC",
        timeout_seconds=timeout,
    )


MakeWorld = Callable[[SandboxProvider], World]


@pytest.fixture
async def make_world(database: Database, sandbox: FakeSandbox) -> AsyncIterator[MakeWorld]:
    """Builds Worlds on the test's database; their clients are closed afterwards."""
    providers: list[SandboxProvider] = []

    def build(provider: SandboxProvider) -> World:
        providers.append(provider)
        config = settings()
        vault = NumberVault(
            encryption_key=config.security.encryption_key_bytes(),
            hmac_key=config.security.hmac_key_bytes(),
        )
        runner = Runner(settings=config, database=database, provider=provider, vault=vault)
        return World(runner, database, sandbox, RecordingChannel(), synthetic_number())

    yield build
    for provider in providers:
        await provider.aclose()


def assert_private(world: World, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """Neither the database files nor the logs hold the number, an OTP or a credential."""
    log_file = tmp_path / "captured.log"
    log_file.write_text(caplog.text, encoding="utf-8")
    files = [log_file]
    if world.database.is_sqlite:
        files += sqlite_files(Path(str(world.database.engine.url.database)))
        assert files[-3].exists()
    assert leaks(files, [world.number], world.otps()) == []
    blob = b"".join(path.read_bytes() for path in files if path.exists())
    for secret in (API_KEY, API_SECRET, *world.sandbox.tokens, "Asha Verma", "D/O", "4e1a4e1a"):
        assert secret.encode() not in blob
    assert not any("Something went wrong" in text for text in world.channel.texts())


async def test_a_whole_verification(
    make_world: MakeWorld, sandbox: FakeSandbox, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    world = make_world(client(sandbox.url))
    assert "An OTP has been sent" in await world.ask_for_otp()
    shown = await world.say(TextSent(world.otps()[-1]))

    assert "Your identity is verified" in shown
    assert masked(world.number) in shown
    assert "A*** V****" in shown
    assert len(sandbox.calls_to("authenticate")) == 1
    [generate] = sandbox.calls_to("generate_otp")
    assert generate.body["aadhaar_number"] == world.number
    assert generate.headers["x-api-version"] == "1.0.0"
    assert "provider=sandbox endpoint=verify_otp status=200 outcome=verified" in caplog.text
    assert_private(world, caplog, tmp_path)


@pytest.mark.parametrize(
    ("fault", "timeout_seconds", "told"),
    [
        (Fault.SERVER_ERROR, 2.0, DOWN),
        (Fault.HTML_BAD_GATEWAY, 2.0, DOWN),
        # Sandbox may have sent the SMS before its answer broke: no free retry.
        (Fault.MALFORMED, 2.0, opening(K.PROVIDER_UNCERTAIN)),
        (Fault.SLOW, 0.2, opening(K.PROVIDER_UNCERTAIN)),
    ],
)
async def test_a_failing_generate_reaches_the_user_as_a_message(
    make_world: MakeWorld,
    sandbox: FakeSandbox,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    fault: Fault,
    timeout_seconds: float,
    told: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.faults["generate_otp"] = fault
    world = make_world(client(sandbox.url, timeout=timeout_seconds))
    assert told in await world.ask_for_otp()
    # A generate that may have sent an OTP is never repeated behind the user's back.
    assert len(sandbox.calls_to("generate_otp")) == 1
    assert_private(world, caplog, tmp_path)


async def test_a_closed_port_is_the_provider_down(
    make_world: MakeWorld, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    world = make_world(client(closed_port_url()))
    assert DOWN in await world.ask_for_otp()
    assert "endpoint=authenticate status=connect_failed outcome=provider_down" in caplog.text
    assert_private(world, caplog, tmp_path)


async def test_a_verify_that_failed_can_be_tried_again(
    make_world: MakeWorld, sandbox: FakeSandbox, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    world = make_world(client(sandbox.url))
    await world.ask_for_otp()
    otp = world.otps()[-1]
    assert "That OTP is not correct" in await world.say(TextSent(another_otp(otp)))
    sandbox.faults["verify_otp"] = Fault.SERVER_ERROR
    assert DOWN in await world.say(TextSent(otp))
    del sandbox.faults["verify_otp"]
    assert "Your identity is verified" in await world.say(TextSent(otp))
    assert_private(world, caplog, tmp_path)


async def test_no_mobile_linked_is_explained(
    make_world: MakeWorld, sandbox: FakeSandbox, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    world = make_world(client(sandbox.url))
    sandbox.numbers_without_mobile.add(world.number)
    shown = await world.ask_for_otp()
    assert opening(K.PROVIDER_NO_MOBILE) in shown
    assert masked(world.number) in shown
    assert_private(world, caplog, tmp_path)


async def test_a_second_otp_within_sandboxs_cooldown_is_refused(
    make_world: MakeWorld, sandbox: FakeSandbox
) -> None:
    world = make_world(client(sandbox.url))
    await world.ask_for_otp()
    # The same number from a second chat: Sandbox itself refuses, and says how long to wait.
    other = make_world(client(sandbox.url))
    other.user, other.number = UserKey(channel="test", external_id="sandbox-2"), world.number
    shown = await other.ask_for_otp()
    assert opening(K.PROVIDER_RATE_LIMITED) in shown
    assert "try again in 45 seconds" in shown or "try again in 44 seconds" in shown


async def test_wrong_credentials_make_verification_unavailable(
    make_world: MakeWorld, sandbox: FakeSandbox, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    world = make_world(client(sandbox.url, secret="secret_test_wrong"))
    assert UNAVAILABLE in await world.ask_for_otp()
    assert "endpoint=authenticate status=401 outcome=misconfigured" in caplog.text
    assert sandbox.calls_to("generate_otp") == []
    assert_private(world, caplog, tmp_path)


@pytest.mark.parametrize("scheme", ["raw", "bearer"])
async def test_the_authorization_scheme_sandbox_expects_works(
    make_world: MakeWorld, sandbox: FakeSandbox, scheme: Literal["raw", "bearer"]
) -> None:
    sandbox.scheme = scheme
    world = make_world(client(sandbox.url, scheme=scheme))
    await world.ask_for_otp()
    assert "Your identity is verified" in await world.say(TextSent(world.otps()[-1]))


async def test_the_wrong_authorization_scheme_is_named_in_the_log(
    make_world: MakeWorld, sandbox: FakeSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.scheme = "bearer"
    world = make_world(client(sandbox.url, scheme="raw"))
    assert UNAVAILABLE in await world.ask_for_otp()
    assert "try authorization_scheme=bearer" in caplog.text
    assert len(sandbox.calls_to("authenticate")) == 2  # once, and once more after the 401
    assert sandbox.sent == []
