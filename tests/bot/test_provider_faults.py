"""Provider faults injected through the fake Sandbox and AccuAuth, seen through the real runner.

Every fault a provider can throw at us (a hang, a slow answer, 5xx, 429 with and without
Retry-After, bodies that are not the documented JSON, a refused or reset connection, a token
that expires) must reach the user as a specific message within the call timeout plus a margin,
leave every counter of theirs as it was, and never send a second SMS behind their back. Once the
fault is gone the same user verifies. The providers are built from settings as `kycbot run`
builds them; the database is a real one (SQLite, and PostgreSQL when configured).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from flows import NumberConfirmed, PromptKey, ResendRequested, TextSent
from storage import Database
from tests.bot.fault_journey import Journey, assert_private, fresh_key, journey, settings_for
from tests.bot.fault_rigs import (
    ANSWERED_WITHIN,
    COOLDOWN,
    DOWN,
    FAULTS,
    SLOW_SECONDS,
    UNCERTAIN,
    WAITS,
    AccuAuthRig,
    Rig,
    SandboxRig,
    Step,
)
from tests.fakes.accuauth_server import FakeAccuAuth, closed_port_url
from tests.fakes.sandbox_server import FakeSandbox
from tests.scenario_tools import opening, say

K = PromptKey


@pytest.fixture(params=["sandbox", "accuauth"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    """A running fake provider; its timeouts hang until it stops."""
    if request.param == "sandbox":
        # No cooldown of its own: the runner's cooldown is what the test is about.
        async with FakeSandbox(slow_seconds=SLOW_SECONDS, cooldown_seconds=0) as sandbox:
            yield SandboxRig(sandbox)
    else:
        async with FakeAccuAuth() as accuauth:
            yield AccuAuthRig(accuauth)


@pytest.fixture
async def user(rig: Rig, database: Database) -> AsyncIterator[Journey]:
    """One user of a runner wired to `rig` with the short timeouts."""
    walk = journey(rig, database, settings_for(rig))
    try:
        yield walk
    finally:
        await walk.aclose()


@pytest.fixture(autouse=True)
def every_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """Capture everything, so the privacy check sees every line."""
    caplog.set_level(logging.DEBUG)


def assert_in_time(shown: str, took: float) -> None:
    assert took < ANSWERED_WITHIN, f"answered after {took:.1f} s: {shown}"


# The fault matrix runs on SQLite only: faults are the provider's business, and the database
# backends are covered by the tests below; this keeps the suite within its time budget.
SQLITE_ONLY = pytest.mark.parametrize("open_database", ["sqlite"], indirect=True)


@SQLITE_ONLY
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_fault_on_the_otp_request(
    user: Journey, rig: Rig, fault: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    await user.to_confirmation()
    before = await user.counters()
    rig.inject("request", fault)

    shown, took = await user.timed(NumberConfirmed())

    told = FAULTS[fault][2]
    assert told in shown
    assert_in_time(shown, took)
    assert await user.counters() == before, "a provider fault counted against the user"
    assert rig.calls("request") == 1, "an OTP request was repeated behind the user's back"

    rig.clear()
    if told in WAITS:
        # Asked at once, the user is told to wait, and no OTP is requested.
        assert opening(K.RESEND_WAIT) in await user.say(NumberConfirmed())
        assert rig.calls("request") == 1
        user.clock.advance(COOLDOWN + 1)
    assert opening(K.OTP_SENT) in await user.say(NumberConfirmed())
    await user.verify_with_latest_otp()
    assert_private(caplog.text, rig, user.number, tmp_path)


@SQLITE_ONLY
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_fault_on_the_otp_check(
    user: Journey, rig: Rig, fault: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    await user.to_confirmation()
    await user.say(NumberConfirmed())
    before = await user.counters()
    assert before.otp_attempts_left == 3
    rig.inject("verify", fault)

    shown, took = await user.timed(TextSent(rig.otps()[-1]))

    assert FAULTS[fault][3] in shown
    assert_in_time(shown, took)
    assert await user.counters() == before, "a provider fault counted against the user"
    rig.clear()
    await user.verify_with_latest_otp()
    assert_private(caplog.text, rig, user.number, tmp_path)


@pytest.mark.parametrize("step", ["request", "verify"])
async def test_a_slow_answer_within_the_timeout_shows_progress_and_goes_on(
    user: Journey, rig: Rig, step: Step, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    await user.to_confirmation()
    if step == "verify":
        await user.say(NumberConfirmed())
    rig.slow_down(step)

    event = NumberConfirmed() if step == "request" else TextSent(rig.otps()[-1])
    shown, took = await user.timed(event)

    assert (opening(K.OTP_SENT) if step == "request" else say(K.VERIFIED)) in shown
    assert_in_time(shown, took)
    assert user.channel.progress == 1, "a slow call showed no typing indicator"
    assert_private(caplog.text, rig, user.number, tmp_path)


async def test_a_refused_connection_is_the_provider_down(
    rig: Rig, database: Database, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # Two runners on one database and keys: one reaches the provider, one finds its port closed.
    key = fresh_key()
    live = journey(rig, database, settings_for(rig, key=key))
    dead = journey(rig, database, settings_for(rig, key=key, base_url=closed_port_url()))
    try:
        await live.to_confirmation()
        before = await live.counters()
        shown, took = await dead.timed(NumberConfirmed())
        assert DOWN in shown
        assert_in_time(shown, took)
        assert await live.counters() == before

        assert opening(K.OTP_SENT) in await live.say(NumberConfirmed())
        before = await live.counters()
        shown, took = await dead.timed(TextSent(rig.otps()[-1]))
        assert DOWN in shown
        assert_in_time(shown, took)
        assert await live.counters() == before
        await live.verify_with_latest_otp()
    finally:
        await live.aclose()
        await dead.aclose()
    assert "status=connect_failed outcome=provider_down" in caplog.text
    assert_private(caplog.text, rig, live.number, tmp_path)


# --- Sandbox's access token, and a client slower than the runner's cut-off ---------------------


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxRig]:
    """A running fake Sandbox without a cooldown of its own."""
    async with FakeSandbox(slow_seconds=SLOW_SECONDS, cooldown_seconds=0) as fake:
        yield SandboxRig(fake)


@pytest.mark.parametrize("step", ["request", "verify"])
async def test_an_access_token_expiring_mid_run_is_invisible(
    sandbox: SandboxRig,
    database: Database,
    step: Step,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    walk = journey(sandbox, database, settings_for(sandbox))
    try:
        await walk.to_confirmation()
        assert opening(K.OTP_SENT) in await walk.say(NumberConfirmed())
        sandbox.fake.expire_tokens()
        if step == "request":
            walk.clock.advance(COOLDOWN + 1)
            assert opening(K.OTP_SENT) in await walk.say(ResendRequested())
            # The refused generate did nothing at Sandbox: its one retry sent the only SMS.
            assert (sandbox.calls("request"), len(sandbox.fake.sent)) == (3, 2)
        await walk.verify_with_latest_otp()
    finally:
        await walk.aclose()
    assert len(sandbox.fake.calls_to("authenticate")) == 2
    assert sandbox.calls("verify") == (2 if step == "verify" else 1)
    assert "status=401 outcome=token_rejected" in caplog.text
    assert_private(caplog.text, sandbox, walk.number, tmp_path)


def _cut_off_early(sandbox: SandboxRig) -> Settings:
    # Misconfigured on purpose: the client would wait longer than the runner lets it.
    return settings_for(
        sandbox,
        KYCBOT_FLOW__CALL_TIMEOUT_SECONDS="1",
        KYCBOT_PROVIDERS__SANDBOX__TIMEOUT_SECONDS="10",
    )


async def test_a_check_slower_than_the_call_timeout_is_cut_off(
    sandbox: SandboxRig, database: Database, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    walk = journey(sandbox, database, _cut_off_early(sandbox))
    try:
        await walk.to_confirmation()
        await walk.say(NumberConfirmed())
        before = await walk.counters()
        sandbox.inject("verify", "timeout")
        shown, took = await walk.timed(TextSent(sandbox.otps()[-1]))
        assert DOWN in shown
        assert_in_time(shown, took)
        assert await walk.counters() == before
        sandbox.clear()
        await walk.verify_with_latest_otp()
    finally:
        await walk.aclose()
    assert_private(caplog.text, sandbox, walk.number, tmp_path)


async def test_a_request_slower_than_the_call_timeout_is_uncertain(
    sandbox: SandboxRig, database: Database
) -> None:
    walk = journey(sandbox, database, _cut_off_early(sandbox))
    try:
        await walk.to_confirmation()
        sandbox.inject("request", "timeout")
        shown, took = await walk.timed(NumberConfirmed())
        assert_in_time(shown, took)
        assert UNCERTAIN in shown
    finally:
        await walk.aclose()
