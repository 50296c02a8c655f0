"""`GET /metrics` of the real `kycbot run` (polling the fake Bot API): the counters move with a
verification by exactly what the user did, the optional bearer token guards the endpoint, and
no user id or number ever appears in the text.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.bot.telegram_process import (
    BotWorld,
    Person,
    free_port,
    spaced,
    synthetic_number,
    telegram_world,
    verify_happily,
)

Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]
TOKEN = "scrape-token-0123456789-abcdef"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    """The fake Telegram with a world whose [web] port (where /metrics is served) is known."""
    async with telegram_world(tmp_path / "kycbot", KYCBOT_WEB__PORT=str(free_port())) as bots:
        yield bots


def metrics_url(world: BotWorld) -> str:
    """Where polling mode serves the metrics: [web]'s port on 127.0.0.1."""
    return f"http://127.0.0.1:{world.env['KYCBOT_WEB__PORT']}/metrics"


async def scrape(world: BotWorld, **headers: str) -> tuple[Samples, str]:
    """GET /metrics as Prometheus does; every sample by (name, labels), and the raw text."""
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        answer = await client.get(metrics_url(world), headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, answer.text


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 for a labelled series that has not been counted yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_counters_move_with_a_flow(world: BotWorld) -> None:
    bot = await world.start()
    before, _ = await scrape(world)
    person = Person(world.fake, 5101)
    number = synthetic_number()
    await verify_happily(person, bot, number)
    after, text = await scrape(world)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # /start, the number and the OTP typed; "I agree" and "Send OTP" pressed.
    assert len(person.typed) >= 3
    assert len(person.pressed) >= 2
    assert moved("kycbot_updates_handled_total", kind="message") == len(person.typed)
    assert moved("kycbot_updates_handled_total", kind="button") == len(person.pressed)
    assert moved("kycbot_flow_outcomes_total", outcome="consent_given") == 1
    assert moved("kycbot_flow_outcomes_total", outcome="otp_sent") == 1
    assert moved("kycbot_flow_outcomes_total", outcome="verified") == 1
    assert moved("kycbot_otps_sent_total") == 1
    assert moved("kycbot_verifications_completed_total", method="aadhaar_otp") == 1
    assert moved("kycbot_verifications_completed_total", method="digilocker") == 0
    # Two provider calls: the OTP request and the verification, both answered well.
    assert moved("kycbot_provider_calls_total", provider="simulator", outcome="ok") == 2
    assert moved("kycbot_provider_call_duration_seconds_count", provider="simulator") == 2
    slowest = value(
        after, "kycbot_provider_call_duration_seconds_bucket", provider="simulator", le="30.0"
    )
    assert slowest == value(
        after, "kycbot_provider_call_duration_seconds_count", provider="simulator"
    )

    lag = value(after, "kycbot_sweeper_lag_seconds")
    assert ("kycbot_sweeper_lag_seconds", frozenset()) in after
    assert 0 <= lag < 60
    assert any(name == "kycbot_build_info" for name, _ in after)
    # Labels are words from fixed vocabularies: no user id, number or OTP can hide in them.
    for name, labels in after:
        for label, shown in labels:
            if label not in ("le", "version"):
                assert re.fullmatch(r"[a-z_]+", shown), (name, label, shown)
    # Values are counts, sums and timestamps, whose digits may match a short secret by chance.
    for secret in (number, spaced(number)):
        assert secret not in text, "/metrics shows the Aadhaar number"
    await bot.stop()


async def test_webhook_mode_serves_the_metrics_next_to_the_webhook(world: BotWorld) -> None:
    port = world.env["KYCBOT_WEB__PORT"]  # free, and [web] is not used in webhook mode
    bot = await world.start(
        KYCBOT_TELEGRAM__MODE="webhook",
        KYCBOT_TELEGRAM__WEBHOOK__URL=f"http://127.0.0.1:{port}/telegram",
        KYCBOT_TELEGRAM__WEBHOOK__PORT=port,
        KYCBOT_TELEGRAM__WEBHOOK__SECRET_TOKEN="webhook-secret",
    )
    person = Person(world.fake, 5201)
    person.says("/start")
    await person.sees()
    samples, _ = await scrape(world)
    assert value(samples, "kycbot_updates_handled_total", kind="message") == 1
    assert value(samples, "kycbot_flow_outcomes_total", outcome="started") == 1
    await bot.stop()


async def test_a_metrics_token_is_required_once_set_and_never_logged(world: BotWorld) -> None:
    bot = await world.start(KYCBOT_METRICS__TOKEN=TOKEN)
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        missing = await client.get(metrics_url(world))
        wrong = await client.get(metrics_url(world), headers={"Authorization": f"Bearer {TOKEN}x"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "kycbot_" not in missing.text + wrong.text
    samples, _ = await scrape(world, Authorization=f"Bearer {TOKEN}")
    assert ("kycbot_sweeper_lag_seconds", frozenset()) in samples
    await bot.stop()
    assert TOKEN not in world.log_text()


async def test_metrics_disabled_in_polling_mode_opens_no_port(world: BotWorld) -> None:
    bot = await world.start(KYCBOT_METRICS__ENABLED="false")
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        # The web app starts before polling does: once the bot polls, it would be listening.
        with pytest.raises(httpx.ConnectError):
            await client.get(metrics_url(world))
    await bot.stop()


async def test_a_bad_metrics_token_stops_the_start_with_one_line(world: BotWorld) -> None:
    finished = await world.run_to_exit(KYCBOT_METRICS__TOKEN="has spaces in it, too short")
    assert finished.returncode == 2, finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith("config error: metrics.token: "), lines[0]
    assert "has spaces" not in finished.stderr
