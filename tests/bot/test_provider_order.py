"""`provider.order` wired end to end: settings -> providers -> runner -> stored flow events."""

from __future__ import annotations

import base64

from sqlalchemy import select

from bot.app import build_provider
from bot.config import load_settings
from bot.runner import Runner
from flows import ConsentGiven, NumberConfirmed, PromptKey, StartRequested, TextSent
from kyc import SimulatedSms
from kyc.fallback import ProviderChain
from storage import Database, NumberVault, UserKey
from storage.models import FlowEvent
from tests.fakes.accuauth_server import closed_port_url
from tests.fakes.channel import RecordingChannel
from tests.scenario_tools import opening, synthetic_number

ENVIRON = {
    "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
    "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(b"k" * 32).decode(),
}


async def test_a_provider_that_is_down_is_passed_over_for_the_next(database: Database) -> None:
    settings = load_settings(
        None,
        ENVIRON
        | {
            "KYCBOT_PROVIDER__ORDER": "accuauth,simulator",
            "KYCBOT_PROVIDERS__ACCUAUTH__API_ID": "id-1",
            "KYCBOT_PROVIDERS__ACCUAUTH__API_SECRET": "secret-1",
            # Nothing listens there: AccuAuth is down for this test.
            "KYCBOT_PROVIDERS__ACCUAUTH__BASE_URL": closed_port_url(),
        },
    )
    sms: list[SimulatedSms] = []
    provider = build_provider(settings, on_sms=sms.append)
    assert isinstance(provider, ProviderChain)
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    runner = Runner(settings=settings, database=database, provider=provider, vault=vault)
    channel = RecordingChannel()
    user = UserKey("test", "order-1")
    try:
        for event in (StartRequested(), ConsentGiven(), TextSent(synthetic_number())):
            await runner.handle(user, event, channel)
        await runner.handle(user, NumberConfirmed(), channel)
        assert channel.last.startswith(opening(PromptKey.OTP_SENT))
        await runner.handle(user, TextSent(sms[0].otp), channel)
        assert channel.last.startswith(opening(PromptKey.VERIFIED))
    finally:
        await provider.aclose()

    async with database.session() as session:
        answered = await session.scalars(
            select(FlowEvent.provider).where(FlowEvent.latency_ms.is_not(None))
        )
        # The flow events name the provider that actually answered.
        assert list(answered) == ["simulator", "simulator"]


def test_one_provider_is_used_as_it_is() -> None:
    provider = build_provider(load_settings(None, ENVIRON))
    assert provider.name == "simulator"
    assert not isinstance(provider, ProviderChain)
