"""The fake Sandbox and AccuAuth as the provider-fault tests drive them, and the fault table.

`FAULTS` names every fault both fakes can inject and what the user must be told when it hits
an OTP request or an OTP check. A `Rig` hides how each fake takes its faults: Sandbox keeps one
on an endpoint until cleared, AccuAuth spoils the next call only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from flows import PromptKey
from tests.fakes import faults as broken
from tests.fakes.accuauth_server import SEND_PATH, VALIDATE_PATH, FakeAccuAuth
from tests.fakes.accuauth_server import Fault as AccuFault
from tests.fakes.sandbox_server import API_KEY, API_SECRET, FakeSandbox
from tests.fakes.sandbox_server import Fault as SandboxFault
from tests.scenario_tools import say

K = PromptKey
Step = Literal["request", "verify"]
CALL_TIMEOUT = 2  # flow.call_timeout_seconds
CLIENT_TIMEOUT = 1.0  # providers.*.timeout_seconds: below the call timeout, as it should be
SLOW_SECONDS = 0.5  # long enough for the typing indicator, well inside the client timeout
# The bound the user is promised, with a generous margin for a busy 2-core machine.
ANSWERED_WITHIN = CALL_TIMEOUT + 4.0
RETRY_AFTER = 7
COOLDOWN = 60  # flow.resend_cooldown_seconds, the default
DOWN = say(K.PROVIDER_DOWN)
UNCERTAIN = say(K.PROVIDER_UNCERTAIN, seconds=COOLDOWN)
BUSY = say(K.PROVIDER_RATE_LIMITED, seconds=COOLDOWN)
BUSY_7 = say(K.PROVIDER_RATE_LIMITED, seconds=RETRY_AFTER)

# fault -> (Sandbox's switch, AccuAuth's fault for a path, told on a request, told on a check)
FAULTS: dict[str, tuple[SandboxFault, Callable[[str], AccuFault], str, str]] = {
    "timeout": (SandboxFault.TIMEOUT, lambda p: AccuFault(p, delay_seconds=30), UNCERTAIN, DOWN),
    "500": (SandboxFault.INTERNAL_ERROR, lambda p: AccuFault(p, status=500), DOWN, DOWN),
    "502-html": (
        SandboxFault.HTML_BAD_GATEWAY,
        lambda p: AccuFault(p, status=502, raw=broken.HTML_PAGE, content_type="text/html"),
        DOWN,
        DOWN,
    ),
    "503": (
        SandboxFault.SERVER_ERROR,
        lambda p: AccuFault(p, status=503, code="SOURCE_SERVICE_UNAVAILABLE"),
        DOWN,
        DOWN,
    ),
    "429": (
        SandboxFault.RATE_LIMITED_BARE,
        lambda p: AccuFault(p, status=429, code="RATE_LIMIT_EXCEEDED"),
        BUSY,
        BUSY,
    ),
    "429-retry-after": (
        SandboxFault.RATE_LIMITED,
        lambda p: AccuFault(p, status=429, code="RATE_LIMIT_EXCEEDED", retry_after=RETRY_AFTER),
        BUSY_7,
        BUSY_7,
    ),
    # A success that cannot be read may have sent the SMS: the user waits, nothing is retried.
    "malformed-json": (
        SandboxFault.MALFORMED,
        lambda p: AccuFault(p, status=200, raw=broken.MALFORMED_JSON),
        UNCERTAIN,
        DOWN,
    ),
    "empty-body": (
        SandboxFault.EMPTY,
        lambda p: AccuFault(p, status=200, raw=broken.EMPTY_BODY),
        UNCERTAIN,
        DOWN,
    ),
    "wrong-shape": (
        SandboxFault.WRONG_SHAPE,
        lambda p: AccuFault(p, status=200, raw=broken.WRONG_SHAPE),
        UNCERTAIN,
        DOWN,
    ),
    "reset": (SandboxFault.RESET, lambda p: AccuFault(p, reset=True), UNCERTAIN, DOWN),
}
WAITS = (UNCERTAIN, BUSY, BUSY_7)  # answers after which a new request waits


class Rig(Protocol):
    """One fake provider as the test drives it."""

    name: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never reach a log."""
        ...

    def env(self, base_url: str | None = None) -> dict[str, str]: ...
    def inject(self, step: Step, fault: str) -> None: ...
    def slow_down(self, step: Step) -> None: ...
    def clear(self) -> None: ...
    def otps(self) -> list[str]: ...
    def calls(self, step: Step) -> int: ...


@dataclass
class SandboxRig:
    """The fake Sandbox: faults stay on an endpoint until cleared."""

    fake: FakeSandbox
    name: str = "sandbox"
    endpoints: dict[str, str] = field(
        default_factory=lambda: {"request": "generate_otp", "verify": "verify_otp"}
    )

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials and every access token handed out, expired ones too."""
        return (API_KEY, API_SECRET, *self.fake.tokens, *self.fake.expired_tokens)

    def env(self, base_url: str | None = None) -> dict[str, str]:
        prefix = "KYCBOT_PROVIDERS__SANDBOX__"
        return {
            f"{prefix}BASE_URL": base_url or self.fake.url,
            f"{prefix}API_KEY": API_KEY,
            f"{prefix}API_SECRET": API_SECRET,
        }

    def inject(self, step: Step, fault: str) -> None:
        self.fake.faults[self.endpoints[step]] = FAULTS[fault][0]

    def slow_down(self, step: Step) -> None:
        # The fake was made with slow_seconds=SLOW_SECONDS.
        self.fake.faults[self.endpoints[step]] = SandboxFault.SLOW

    def clear(self) -> None:
        self.fake.faults.clear()

    def otps(self) -> list[str]:
        return [sent.otp for sent in self.fake.sent]

    def calls(self, step: Step) -> int:
        return len(self.fake.calls_to(self.endpoints[step]))


@dataclass
class AccuAuthRig:
    """The fake AccuAuth: a fault spoils the next call to its path, then it is gone."""

    fake: FakeAccuAuth
    name: str = "accuauth"
    paths: dict[str, str] = field(
        default_factory=lambda: {"request": SEND_PATH, "verify": VALIDATE_PATH}
    )

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.fake.api_id, self.fake.api_secret)

    def env(self, base_url: str | None = None) -> dict[str, str]:
        prefix = "KYCBOT_PROVIDERS__ACCUAUTH__"
        return {
            f"{prefix}BASE_URL": base_url or self.fake.url,
            f"{prefix}API_ID": self.fake.api_id,
            f"{prefix}API_SECRET": self.fake.api_secret,
        }

    def inject(self, step: Step, fault: str) -> None:
        self.fake.fail_next(FAULTS[fault][1](self.paths[step]))

    def slow_down(self, step: Step) -> None:
        self.fake.fail_next(AccuFault(self.paths[step], delay_seconds=SLOW_SECONDS))

    def clear(self) -> None:
        """Nothing to do: each fault spoiled exactly one call."""

    def otps(self) -> list[str]:
        return [session.otp for session in self.fake.sessions.values()]

    def calls(self, step: Step) -> int:
        return len(self.fake.calls_to(self.paths[step]))
