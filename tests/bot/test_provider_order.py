"""`provider.order` wired end to end: settings -> providers -> runner -> stored flow events."""

from __future__ import annotations

import base64
import itertools

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.alerts import ProviderAlerts
from bot.app import build_provider
from bot.config import Settings, load_settings
from bot.metrics import Metrics, Observers
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


def _accuauth_down_then_simulator(**extra: str) -> Settings:
    return load_settings(
        None,
        ENVIRON
        | {
            "KYCBOT_PROVIDER__ORDER": "accuauth,simulator",
            "KYCBOT_PROVIDERS__ACCUAUTH__API_ID": "id-1",
            "KYCBOT_PROVIDERS__ACCUAUTH__API_SECRET": "secret-1",
            # Nothing listens there: AccuAuth is down for this test.
            "KYCBOT_PROVIDERS__ACCUAUTH__BASE_URL": closed_port_url(),
        }
        | extra,
    )


async def test_a_provider_that_is_down_is_passed_over_for_the_next(database: Database) -> None:
    settings = _accuauth_down_then_simulator()
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


async def test_a_provider_passed_over_still_shows_in_metrics_and_alerts(
    database: Database,
) -> None:
    # Users never notice a dead first provider that the next one covers; support must.
    settings = _accuauth_down_then_simulator(
        KYCBOT_ALERTS__SUPPORT_CHAT_ID="-100", KYCBOT_ALERTS__DOWN_AFTER_SECONDS="60"
    )
    sms: list[SimulatedSms] = []
    provider = build_provider(settings, on_sms=sms.append)
    vault = NumberVault(
        encryption_key=settings.security.encryption_key_bytes(),
        hmac_key=settings.security.hmac_key_bytes(),
    )
    sent: list[tuple[int, str]] = []

    async def send(chat_id: int, text: str) -> None:
        sent.append((chat_id, text))

    minutes = itertools.count(0, 60.0)  # each provider answer a minute after the one before
    alerts = ProviderAlerts(
        settings=lambda: settings.alerts, send=send, clock=lambda: float(next(minutes))
    )
    metrics = Metrics()
    runner = Runner(
        settings=settings,
        database=database,
        provider=provider,
        vault=vault,
        observer=Observers(metrics, alerts),
    )
    try:
        for number in range(3):
            user, channel = UserKey("test", f"passed-over-{number}"), RecordingChannel()
            for event in (StartRequested(), ConsentGiven(), TextSent(synthetic_number())):
                await runner.handle(user, event, channel)
            await runner.handle(user, NumberConfirmed(), channel)
            assert channel.last.startswith(opening(PromptKey.OTP_SENT))
        await alerts.aclose()
    finally:
        await provider.aclose()

    calls = {
        (sample.labels["provider"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
        if sample.name == "kycbot_provider_calls_total"
    }
    assert calls == {("accuauth", "provider_down"): 3.0, ("simulator", "ok"): 3.0}
    # Down at 0, 60 and 120 s: past the 60 s threshold on the third, and said once.
    assert [chat for chat, _ in sent] == [-100]
    assert "provider accuauth is down" in sent[0][1]


def test_one_provider_is_used_as_it_is() -> None:
    provider = build_provider(load_settings(None, ENVIRON))
    assert provider.name == "simulator"
    assert not isinstance(provider, ProviderChain)
