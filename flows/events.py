"""Events: past-tense facts fed to `decide`, from the user, the provider or the clock.

Event
├── user events: StartRequested, HelpRequested, StatusRequested, CancelRequested,
│   UnknownCommandSent, UnsupportedMessageSent, TextSent, and the button presses
│   ConsentGiven, ConsentDeclined, OtpMethodChosen, DigiLockerChosen, NumberConfirmed,
│   NumberChangeChosen, ResendRequested, StartOverChosen
├── provider answers: OtpSent, OtpNotSent, KycVerified, OtpNotVerified,
│   DigiLockerStarted, DigiLockerNotStarted, DigiLockerVerified, DigiLockerNotVerified
├── data erasure: DataDeletionRequested, and the buttons DataDeletionConfirmed, DataDeletionKept
├── DigiLockerReturned (from the web callback, once its state token is checked)
└── DeadlinePassed (from the sweeper)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from flows.record import KycData

__all__ = [
    "ButtonAction",
    "ButtonExpired",
    "CancelRequested",
    "ConsentDeclined",
    "ConsentGiven",
    "DataDeletionConfirmed",
    "DataDeletionKept",
    "DataDeletionRequested",
    "DeadlinePassed",
    "DigiLockerChosen",
    "DigiLockerNotStarted",
    "DigiLockerNotVerified",
    "DigiLockerReturned",
    "DigiLockerStarted",
    "DigiLockerVerified",
    "Event",
    "HelpRequested",
    "KycVerified",
    "NumberChangeChosen",
    "NumberConfirmed",
    "OtpMethodChosen",
    "OtpNotSent",
    "OtpNotVerified",
    "OtpSent",
    "ProviderFailure",
    "ResendRequested",
    "StartOverChosen",
    "StartRequested",
    "StatusRequested",
    "TextSent",
    "UnknownCommandSent",
    "UnsupportedMessageSent",
    "event_for_button",
]


class Event:
    """Base of every event."""

    @property
    def name(self) -> str:
        """The name recorded in flow events."""
        return type(self).__name__


@dataclass(frozen=True)
class StartRequested(Event):
    """The user sent /start."""


@dataclass(frozen=True)
class HelpRequested(Event):
    """The user sent /help."""


@dataclass(frozen=True)
class StatusRequested(Event):
    """The user sent /status, or a chat resumed and wants the current step shown again."""


@dataclass(frozen=True)
class CancelRequested(Event):
    """The user sent /cancel."""


@dataclass(frozen=True)
class UnknownCommandSent(Event):
    """The user sent a command the bot does not know."""


@dataclass(frozen=True)
class UnsupportedMessageSent(Event):
    """The user sent something that is not text: a sticker, a photo, a voice note.

    `caption` is the text that came with it, if any; like typed text, it is never shown.
    """

    caption: str = field(default="", repr=False)


@dataclass(frozen=True)
class TextSent(Event):
    """The user typed text. It may hold an Aadhaar number or an OTP, so it is never shown."""

    text: str = field(repr=False)


@dataclass(frozen=True)
class ConsentGiven(Event):
    """The user tapped "I agree" under the consent notice."""


@dataclass(frozen=True)
class ConsentDeclined(Event):
    """The user tapped "I do not agree"."""


@dataclass(frozen=True)
class OtpMethodChosen(Event):
    """The user chose to verify with Aadhaar OTP."""


@dataclass(frozen=True)
class DigiLockerChosen(Event):
    """The user chose to verify with DigiLocker (or asked for a fresh DigiLocker link)."""


@dataclass(frozen=True)
class NumberConfirmed(Event):
    """The user tapped "Send OTP" under the masked number."""


@dataclass(frozen=True)
class NumberChangeChosen(Event):
    """The user tapped "Change number"."""


@dataclass(frozen=True)
class ResendRequested(Event):
    """The user asked for a new OTP."""


@dataclass(frozen=True)
class StartOverChosen(Event):
    """The user chose to abandon the verification in progress and begin again."""


@dataclass(frozen=True)
class DataDeletionRequested(Event):
    """The user sent /delete_my_data."""


@dataclass(frozen=True)
class DataDeletionConfirmed(Event):
    """The user tapped "Delete my data" under the erasure question."""


@dataclass(frozen=True)
class DataDeletionKept(Event):
    """The user tapped "Keep my data" under the erasure question."""


@dataclass(frozen=True)
class ButtonExpired(Event):
    """The user pressed a button of a message from an earlier step."""


class ProviderFailure(StrEnum):
    """The shared vocabulary every provider's answers are mapped to."""

    INVALID_AADHAAR = "invalid_aadhaar"
    NO_MOBILE_LINKED = "no_mobile_linked"
    RATE_LIMITED = "rate_limited"
    IN_PROGRESS = "in_progress"
    PROVIDER_DOWN = "provider_down"
    MISCONFIGURED = "misconfigured"
    OUT_OF_QUOTA = "out_of_quota"
    WRONG_OTP = "wrong_otp"
    OTP_EXPIRED = "otp_expired"
    SESSION_INVALID = "session_invalid"
    # An OTP request that was sent but never answered: an OTP may be on its way, so it is
    # counted as a send and the next one waits for the cooldown.
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class OtpSent(Event):
    """The provider sent an OTP; `reference` identifies the OTP session at the provider."""

    reference: str = field(repr=False)
    provider: str = ""  # which provider answered, when several are configured


@dataclass(frozen=True)
class OtpNotSent(Event):
    """The provider did not send an OTP. `detail` is for the log and holds no personal data."""

    failure: ProviderFailure
    retry_after_seconds: int | None = None
    detail: str = ""
    provider: str = ""


@dataclass(frozen=True)
class KycVerified(Event):
    """The provider accepted the OTP and returned e-KYC data."""

    data: KycData
    provider: str = ""


@dataclass(frozen=True)
class OtpNotVerified(Event):
    """The provider did not accept the OTP, or could not check it."""

    failure: ProviderFailure
    retry_after_seconds: int | None = None
    detail: str = ""
    provider: str = ""


@dataclass(frozen=True)
class DigiLockerStarted(Event):
    """The provider opened a DigiLocker session; the user signs in and allows access at `url`."""

    url: str = field(repr=False)
    provider: str = ""


@dataclass(frozen=True)
class DigiLockerNotStarted(Event):
    """The provider did not open a DigiLocker session. `detail` holds no personal data."""

    failure: ProviderFailure
    retry_after_seconds: int | None = None
    detail: str = ""
    provider: str = ""


@dataclass(frozen=True)
class DigiLockerReturned(Event):
    """The user came back from DigiLocker to the redirect URL with this `code`."""

    code: str = field(repr=False)


@dataclass(frozen=True)
class DigiLockerVerified(Event):
    """The provider traded the code for `reference_key`, which reads the user's documents."""

    reference_key: str = field(repr=False)
    expires_at: datetime | None = None
    provider: str = ""


@dataclass(frozen=True)
class DigiLockerNotVerified(Event):
    """The provider did not trade the code (refused, spent, expired) or could not be reached."""

    failure: ProviderFailure
    detail: str = ""
    provider: str = ""


@dataclass(frozen=True)
class DeadlinePassed(Event):
    """The sweeper found a deadline of this verification due."""


class ButtonAction(StrEnum):
    """What a button does; the value is all a button carries (callback data, menu choice)."""

    AGREE = "agree"
    DECLINE = "decline"
    SEND_OTP = "send_otp"
    CHANGE_NUMBER = "change_number"
    RESEND = "resend"
    START_OVER = "start_over"
    USE_OTP = "use_otp"
    USE_DIGILOCKER = "use_digilocker"
    ERASE_DATA = "erase_data"
    KEEP_DATA = "keep_data"


_BUTTON_EVENTS: dict[ButtonAction, type[Event]] = {
    ButtonAction.AGREE: ConsentGiven,
    ButtonAction.DECLINE: ConsentDeclined,
    ButtonAction.SEND_OTP: NumberConfirmed,
    ButtonAction.CHANGE_NUMBER: NumberChangeChosen,
    ButtonAction.RESEND: ResendRequested,
    ButtonAction.START_OVER: StartOverChosen,
    ButtonAction.USE_OTP: OtpMethodChosen,
    ButtonAction.USE_DIGILOCKER: DigiLockerChosen,
    ButtonAction.ERASE_DATA: DataDeletionConfirmed,
    ButtonAction.KEEP_DATA: DataDeletionKept,
}


def event_for_button(action: ButtonAction) -> Event:
    """The event a button press stands for."""
    return _BUTTON_EVENTS[action]()
