"""The verification funnel, failures and provider latency: `kycbot stats` and the console's chart.

Plain SQLAlchemy Core over a synchronous `Connection`, run through `Database.run`; it reads
states, outcomes and latencies only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from storage.models import Base

__all__ = [
    "FAILURE_OUTCOMES",
    "FUNNEL_STEPS",
    "PROVIDER_ERRORS",
    "FunnelStats",
    "ProviderCalls",
    "funnel_stats",
]

_verification = Base.metadata.tables["verification"]
_flow_event = Base.metadata.tables["flow_event"]

# The funnel, from the outcomes flows/table.py records: "started" (IDLE -> AWAIT_CONSENT opens
# the verification row), "consent_given", "number_accepted" (a valid number typed),
# "otp_sent" (the provider sent an OTP) and "verified" (or the row's state `verified`).
# A verification counts at a step when it reached that step or a later one: a DigiLocker
# verification never types a number nor gets an OTP, yet it passed the point those steps stand
# for, and a funnel whose counts can rise from one step to the next explains nothing.
FUNNEL_STEPS: tuple[tuple[str, str], ...] = (
    ("started", "started"),
    ("consented", "consent_given"),
    ("number accepted", "number_accepted"),
    ("OTP sent", "otp_sent"),
    ("verified", "verified"),
)
_STEP_RANK = {outcome: rank for rank, (_, outcome) in enumerate(FUNNEL_STEPS)}

# Outcomes in flows/table.py that mean something went wrong for the user: their own mistakes,
# limits, timeouts and the provider's failures. Progress, help and status outcomes are not here.
FAILURE_OUTCOMES = frozenset(
    {
        "consent_declined",
        "number_rejected",
        "too_many_invalid_numbers",
        "provider_invalid_aadhaar",
        "no_mobile_linked",
        "no_sends_left",
        "daily_limit",
        "locked",
        "otp_malformed",
        "wrong_otp",
        "otp_attempts_used",
        "otp_expired",
        "idle_timeout",
        "digilocker_expired",
        "digilocker_not_completed",
        "rate_limited",
        "provider_busy",
        "provider_unavailable",
        "provider_no_answer",
        "provider_uncertain",
        "provider_down",
    }
)
# Of the outcomes of a provider call (a flow event with latency_ms, see StepRecord), those where
# the provider failed to do its job. A wrong OTP or an unknown number is a correct answer.
PROVIDER_ERRORS = frozenset(
    {
        "rate_limited",
        "provider_busy",
        "provider_unavailable",
        "provider_no_answer",
        "provider_uncertain",
        "provider_down",
    }
)


@dataclass(frozen=True)
class ProviderCalls:
    """The timed calls to one provider."""

    latencies_ms: list[int]
    errors: int


@dataclass(frozen=True)
class FunnelStats:
    """The funnel, failures and provider calls of the verifications created since `since`."""

    since: datetime
    # (step label, verifications that reached it), in FUNNEL_STEPS order.
    steps: list[tuple[str, int]]
    failures: Counter[str]
    providers: dict[str, ProviderCalls]

    @property
    def started(self) -> int:
        """How many verifications were created since `since`."""
        return self.steps[0][1]


def funnel_stats(connection: Connection, *, since: datetime) -> FunnelStats:
    """The funnel over the verifications created at or after `since`, and their flow events."""
    created = select(_verification.c.id).where(_verification.c.created_at >= since)
    reached: dict[int, int] = {}
    for verification_id, state in connection.execute(
        select(_verification.c.id, _verification.c.state).where(_verification.c.id.in_(created))
    ):
        reached[verification_id] = _STEP_RANK["verified"] if state == "verified" else 0
    events = connection.execute(
        select(
            _flow_event.c.verification_id,
            _flow_event.c.outcome,
            _flow_event.c.provider,
            _flow_event.c.latency_ms,
        ).where(_flow_event.c.verification_id.in_(created))
    )
    failures: Counter[str] = Counter()
    calls: dict[str, tuple[list[int], list[bool]]] = {}
    for verification_id, outcome, provider, latency_ms in events:
        if verification_id in reached and outcome in _STEP_RANK:
            reached[verification_id] = max(reached[verification_id], _STEP_RANK[outcome])
        if outcome in FAILURE_OUTCOMES:
            failures[outcome] += 1
        if latency_ms is not None:
            latencies, errors = calls.setdefault(provider or "?", ([], []))
            latencies.append(latency_ms)
            errors.append(outcome in PROVIDER_ERRORS)
    steps = [
        (label, sum(1 for rank in reached.values() if rank >= step))
        for step, (label, _) in enumerate(FUNNEL_STEPS)
    ]
    providers = {
        name: ProviderCalls(latencies_ms=sorted(latencies), errors=sum(errors))
        for name, (latencies, errors) in sorted(calls.items())
    }
    return FunnelStats(since=since, steps=steps, failures=failures, providers=providers)
