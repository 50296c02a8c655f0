"""Effects: what `decide` asks the runner to do. Pure data, carried out by bot/.

Replies name prompts from the catalogue and their parameters; the runner renders them in the
user's language. No effect holds an OTP or an Aadhaar number except the two provider calls,
which live only in memory; DigiLocker's code and reference key stay out of every repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from flows.catalogue import PromptKey
from flows.events import ButtonAction
from flows.record import VerifiedRecord
from flows.secrets import AadhaarNumber, Otp

__all__ = [
    "BeginNewVerification",
    "Button",
    "ConsentDecision",
    "DeleteUserMessage",
    "Effect",
    "EraseUserData",
    "FetchDigiLockerReference",
    "InputHint",
    "Line",
    "LinkButton",
    "RecordConsent",
    "Reply",
    "RequestOtp",
    "SaveDigiLockerResult",
    "SaveResult",
    "ShowProgress",
    "StartDigiLocker",
    "VerifyOtp",
]

ParamValue = str | int | datetime


@dataclass(frozen=True)
class Line:
    """One prompt of the catalogue with the values for its placeholders."""

    prompt: PromptKey
    params: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Button:
    """A choice offered under a message."""

    action: ButtonAction
    label: PromptKey


@dataclass(frozen=True)
class LinkButton:
    """A button that opens `url` in the browser; pressing it sends the bot nothing."""

    label: PromptKey
    url: str = field(repr=False)


class InputHint(StrEnum):
    """What the user is expected to type next; shown as a placeholder in the input field."""

    AADHAAR = "aadhaar"
    OTP = "otp"


class Effect:
    """Base of every effect."""


@dataclass(frozen=True)
class Reply(Effect):
    """Send one message made of `lines`, with optional buttons; `links` are shown first."""

    lines: tuple[Line, ...]
    buttons: tuple[Button, ...] = ()
    expects: InputHint | None = None
    # Set when the message shows masked personal data or a DigiLocker link: Telegram then
    # forbids forwarding it.
    protect_content: bool = False
    # Kept apart from `buttons`: a link has no action and never comes back as an event.
    links: tuple[LinkButton, ...] = ()


@dataclass(frozen=True)
class DeleteUserMessage(Effect):
    """Delete the message the user just sent: it held an Aadhaar number or an OTP."""


@dataclass(frozen=True)
class ShowProgress(Effect):
    """Tell the user the bot is working (a typing indicator) while a slow provider call runs."""


@dataclass(frozen=True)
class RequestOtp(Effect):
    """Ask the provider to send an OTP to the mobile linked with `aadhaar`."""

    aadhaar: AadhaarNumber


@dataclass(frozen=True)
class VerifyOtp(Effect):
    """Ask the provider to check `otp` within the OTP session `reference`."""

    reference: str = field(repr=False)
    otp: Otp = field(repr=False)


class ConsentDecision(StrEnum):
    """What the user answered to the consent notice."""

    AGREED = "agreed"
    DECLINED = "declined"


@dataclass(frozen=True)
class RecordConsent(Effect):
    """Store the user's answer to the consent notice with this verification."""

    decision: ConsentDecision


@dataclass(frozen=True)
class SaveResult(Effect):
    """Store the masked e-KYC record of this verification."""

    record: VerifiedRecord


@dataclass(frozen=True)
class BeginNewVerification(Effect):
    """After this verification ends, start a fresh one as if the user had sent /start."""


@dataclass(frozen=True)
class EraseUserData(Effect):
    """Erase everything stored about this user (results, consents, events, the user row).

    The runner does it after the step is stored, so the step's own flow event goes too; only a
    deletion record (its time and a keyed hash of the user) is left.
    """


@dataclass(frozen=True)
class StartDigiLocker(Effect):
    """Open a DigiLocker session for this verification.

    The runner makes the state token and the PKCE verifier, keeps them with the verification,
    calls the provider and feeds back DigiLockerStarted or DigiLockerNotStarted.
    """


@dataclass(frozen=True)
class FetchDigiLockerReference(Effect):
    """Trade the `code` DigiLocker returned (with the kept PKCE verifier) for a reference key."""

    code: str = field(repr=False)


@dataclass(frozen=True)
class SaveDigiLockerResult(Effect):
    """Store that DigiLocker verified this user, with the key that reads their documents."""

    reference_key: str = field(repr=False)
    expires_at: datetime | None
    verified_at: datetime
