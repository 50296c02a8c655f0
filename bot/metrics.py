"""Prometheus metrics: what the bot counts, and `GET /metrics` to read them.

Each `Metrics` has a registry of its own, not prometheus_client's global one, so several apps
in one process (and tests) do not collide. The runner reports through `FlowObserver`, the two
points where it already logs: every stored step and every provider answer. Labels are bounded
vocabularies from the code (update kinds, flow outcomes, provider names, `ProviderFailure`
values), never a user id, a number or free text.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from flows import (
    DigiLockerNotStarted,
    DigiLockerNotVerified,
    Event,
    OtpNotSent,
    OtpNotVerified,
)

__all__ = [
    "CONTENT_TYPE",
    "OK",
    "FlowObserver",
    "Metrics",
    "NoObserver",
    "Observers",
    "answer_outcome",
    "metrics_endpoint",
]

# The classic text format: every Prometheus version scrapes it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OK = "ok"  # the outcome of a provider answer that is not a failure
# From a fast loopback answer to the longest call timeout a provider is given.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)
# The events that complete a verification, by the method they complete.
_COMPLETING_EVENTS = {"KycVerified": "aadhaar_otp", "DigiLockerVerified": "digilocker"}
_VERIFIED = "verified"
_OTP_SENT = "otp_sent"
MetricsEndpoint = Callable[[Request], Awaitable[Response]]


class FlowObserver(Protocol):
    """Told what the runner did; implementations must be quick and must never raise."""

    def step(self, event: str, outcome: str) -> None:
        """A step was stored: `event` (its class name) was decided with `outcome`."""

    def provider_answered(self, provider: str, outcome: str, latency_ms: int) -> None:
        """`provider` answered a call with `outcome` (`OK` or a ProviderFailure value)."""


class NoObserver:
    """The observer that ignores everything (the runner's default)."""

    def step(self, event: str, outcome: str) -> None:
        """Ignore the step."""

    def provider_answered(self, provider: str, outcome: str, latency_ms: int) -> None:
        """Ignore the answer."""


class Observers:
    """Several observers as one: each is told everything, in order."""

    def __init__(self, *observers: FlowObserver) -> None:
        self._observers = observers

    def step(self, event: str, outcome: str) -> None:
        """Tell every observer about the step."""
        for observer in self._observers:
            observer.step(event, outcome)

    def provider_answered(self, provider: str, outcome: str, latency_ms: int) -> None:
        """Tell every observer about the answer."""
        for observer in self._observers:
            observer.provider_answered(provider, outcome, latency_ms)


def answer_outcome(answer: Event) -> str:
    """The outcome label of a provider answer: its ProviderFailure value, or `OK`."""
    if isinstance(
        answer, OtpNotSent | OtpNotVerified | DigiLockerNotStarted | DigiLockerNotVerified
    ):
        return answer.failure.value
    return OK


class Metrics:
    """The bot's counters, histogram and gauges, on a registry of their own."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._updates = Counter(
            "kycbot_updates_handled",
            "Telegram updates received, by kind (message, button, edited, group, other).",
            ["kind"],
            registry=registry,
        )
        self._outcomes = Counter(
            "kycbot_flow_outcomes",
            "Conversation steps stored, by the outcome the flow recorded.",
            ["outcome"],
            registry=registry,
        )
        self._provider_calls = Counter(
            "kycbot_provider_calls",
            "Provider calls, by provider and outcome (ok or the failure).",
            ["provider", "outcome"],
            registry=registry,
        )
        self._provider_latency = Histogram(
            "kycbot_provider_call_duration_seconds",
            "How long provider calls took until their answer, by provider.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._otps_sent = Counter(
            "kycbot_otps_sent", "OTPs the provider said it sent.", registry=registry
        )
        self._verified = Counter(
            "kycbot_verifications_completed",
            "Verifications completed, by method (aadhaar_otp, digilocker).",
            ["method"],
            registry=registry,
        )
        self._monotonic = monotonic
        self._last_sweep = monotonic()
        # Computed when scraped, so a sweeper that hangs or keeps failing shows a growing lag.
        Gauge(
            "kycbot_sweeper_lag_seconds",
            "Seconds since the deadline sweeper last finished a sweep (or since the start).",
            registry=registry,
        ).set_function(lambda: self._monotonic() - self._last_sweep)
        Gauge(
            "kycbot_build_info", "The running kycbot version.", ["version"], registry=registry
        ).labels(_version()).set(1)

    def update_handled(self, kind: str) -> None:
        """Count one Telegram update of `kind`."""
        self._updates.labels(kind).inc()

    def step(self, event: str, outcome: str) -> None:
        """Count a stored step's outcome, and the OTPs and verifications it stands for."""
        self._outcomes.labels(outcome).inc()
        if outcome == _OTP_SENT:
            self._otps_sent.inc()
        elif outcome == _VERIFIED and event in _COMPLETING_EVENTS:
            self._verified.labels(_COMPLETING_EVENTS[event]).inc()

    def provider_answered(self, provider: str, outcome: str, latency_ms: int) -> None:
        """Count a provider answer and observe how long it took."""
        self._provider_calls.labels(provider, outcome).inc()
        self._provider_latency.labels(provider).observe(latency_ms / 1000)

    def swept(self) -> None:
        """The deadline sweeper finished a sweep."""
        self._last_sweep = self._monotonic()

    def exposition(self) -> bytes:
        """Every metric in Prometheus's text format."""
        return generate_latest(self.registry)


def metrics_endpoint(metrics: Metrics, *, token: Callable[[], str]) -> MetricsEndpoint:
    """`GET /metrics`: open when `token()` is empty, else only with `Bearer <token>`."""

    async def serve(request: Request) -> Response:
        expected = token()
        if expected:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
                return PlainTextResponse(
                    "unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return serve


def _version() -> str:
    try:
        return version("kycbot")
    except PackageNotFoundError:
        return "unknown"
