"""One pydantic model per config section; `bot.config.Settings` puts them together.

Every model forbids unknown keys, is frozen, and keeps inputs out of `ValidationError` text:
a rejected value may be a secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config_errors import KeyProblem
from flows.record import AddressPolicy, BirthDatePolicy, GenderPolicy, NamePolicy

__all__ = [
    "HMAC_KEY_MIN_LENGTH",
    "LANGUAGE_CODE",
    "ConsentSettings",
    "DatabaseSettings",
    "FlowSettings",
    "LanguageSettings",
    "LogLevel",
    "LoggingSettings",
    "ResultSettings",
    "SecuritySettings",
    "TelegramSettings",
    "WebSettings",
]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

HMAC_KEY_MIN_LENGTH = 32
AES_KEY_BYTES = 32
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")
_KEY_RECIPE = (
    "generate one with: python -c 'import base64, os; "
    "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
)


_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


class WebhookSettings(BaseModel):
    """`[telegram.webhook]`: where Telegram posts updates in webhook mode."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str = ""
    listen: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Telegram sends it back in X-Telegram-Bot-Api-Secret-Token with every update.
    secret_token: SecretStr = SecretStr("")

    @field_validator("url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return _http_url(value) if value else value

    @field_validator("secret_token")
    @classmethod
    def _telegram_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and not _SECRET_TOKEN.fullmatch(secret):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value


class WebSettings(BaseModel):
    """`[web]`: the bot's web app as users' browsers reach it (DigiLocker comes back there)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # For example https://kyc.example.com; DigiLocker returns users to <public_url>/digilocker.
    public_url: str = ""
    # Where the web app listens in polling mode (in webhook mode it shares telegram.webhook's).
    listen: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/") if value else value


class TelegramSettings(BaseModel):
    """`[telegram]`: how to reach the Bot API and how updates arrive."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # Only the Telegram bot needs it; the terminal chat and `config check` run without one.
    token: SecretStr = SecretStr("")
    base_url: str = "https://api.telegram.org/bot"
    mode: Literal["polling", "webhook"] = "polling"
    max_concurrent_updates: int = Field(default=32, ge=1, le=1024)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value)

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramSettings:
        if self.mode == "webhook":
            if not self.webhook.url:
                raise KeyProblem(("webhook", "url"), "required in webhook mode")
            if not self.webhook.secret_token.get_secret_value():
                raise KeyProblem(
                    ("webhook", "secret_token"),
                    "required in webhook mode; set KYCBOT_TELEGRAM__WEBHOOK__SECRET_TOKEN",
                )
        return self


class DatabaseSettings(BaseModel):
    """`[database]`: where verifications, consents and results are stored."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str = "sqlite+aiosqlite:///kycbot.sqlite3"

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            # SQLAlchemy's own message may quote the URL, password included.
            raise ValueError(
                "is not a database URL (for example sqlite+aiosqlite:///kycbot.sqlite3 "
                "or postgresql+asyncpg://user@host/kycbot)"
            ) from None
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A PostgreSQL URL may carry a password: show it masked.
        yield "url", make_url(self.url).render_as_string(hide_password=True)


class SecuritySettings(BaseModel):
    """`[security]`: the keys that protect Aadhaar numbers at rest; from the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    hmac_key: SecretStr
    encryption_key: SecretStr

    @field_validator("hmac_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        # Twelve digits are few: only a long key stops the HMAC being reversed by brute force.
        if len(value.get_secret_value()) < HMAC_KEY_MIN_LENGTH:
            raise ValueError(f"must be at least {HMAC_KEY_MIN_LENGTH} characters")
        return value

    @field_validator("encryption_key")
    @classmethod
    def _aes_256_key(cls, value: SecretStr) -> SecretStr:
        _decode_aes_key(value.get_secret_value())
        return value

    def hmac_key_bytes(self) -> bytes:
        """The key for the keyed hash of Aadhaar numbers."""
        return self.hmac_key.get_secret_value().encode()

    def encryption_key_bytes(self) -> bytes:
        """The 32-byte AES-256-GCM key for the number kept during a verification."""
        return _decode_aes_key(self.encryption_key.get_secret_value())


def _decode_aes_key(text: str) -> bytes:
    """Standard or URL-safe base64, padding optional, of exactly 32 bytes."""
    compact = text.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be base64 of {AES_KEY_BYTES} bytes; {_KEY_RECIPE}") from None
    if len(key) != AES_KEY_BYTES:
        raise ValueError(f"must be base64 of {AES_KEY_BYTES} bytes, not {len(key)}; {_KEY_RECIPE}")
    return key


class FlowSettings(BaseModel):
    """`[flow]`: the limits of one verification (see `flows.Rules`) and how deadlines run."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    validate_checksum: bool = True
    max_invalid_entries: PositiveInt = 5
    otp_attempts: PositiveInt = 3
    max_otp_sends: PositiveInt = 3
    resend_cooldown_seconds: PositiveInt = 60
    otp_ttl_seconds: PositiveInt = 600
    idle_timeout_seconds: PositiveInt = 900
    max_otp_requests_per_day: PositiveInt = 5
    max_failed_verifications: PositiveInt = 3
    lockout_seconds: PositiveInt = 86_400
    call_timeout_seconds: PositiveInt = 60
    sweep_interval_seconds: PositiveFloat = 5.0
    timezone: str = "Asia/Kolkata"
    # How users may verify, in the order they are offered: aadhaar_otp, digilocker.
    methods: tuple[Literal["aadhaar_otp", "digilocker"], ...] = ("aadhaar_otp",)
    # How long a DigiLocker link handed to a user stays usable.
    digilocker_ttl_seconds: PositiveInt = 600

    @field_validator("methods", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # From the environment the list comes as text: KYCBOT_FLOW__METHODS=aadhaar_otp,digilocker
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("methods")
    @classmethod
    def _distinct_methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("names no method; list at least one, such as aadhaar_otp")
        if len(set(value)) != len(value):
            raise ValueError("names a method twice")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError, OSError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Kolkata)"
            ) from None
        return value


class ResultSettings(BaseModel):
    """`[result]`: how much of each e-KYC field is kept (see `flows.FieldPolicy`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: NamePolicy = NamePolicy.MASKED
    date_of_birth: BirthDatePolicy = BirthDatePolicy.YEAR
    gender: GenderPolicy = GenderPolicy.KEEP
    address: AddressPolicy = AddressPolicy.STATE


class ConsentSettings(BaseModel):
    """`[consent]`: what is recorded with each consent."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    # Recorded as "<notice_version>+<hash of the notice texts>" (bot/consent_version.py), so an
    # edited text is a new version even if this label is not changed; the column holds 64.
    notice_version: str = Field(default="2026-11-01", min_length=1, max_length=55)
    purpose: str = Field(default="kyc_onboarding", pattern=r"^[a-z][a-z0-9_]*$")


class LoggingSettings(BaseModel):
    """`[logging]`: how much the bot logs."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    level: LogLevel = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class LanguageSettings(BaseModel):
    """`[language]`: the language the bot speaks when it does not use the user's own."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    default: str = "en"
    # The languages users may pick with /language, in the order shown; a Telegram client in
    # one of them is answered in it, any other gets `default`.
    offered: tuple[str, ...] = ("en", "hi")

    @field_validator("default")
    @classmethod
    def _language_code(cls, value: str) -> str:
        if not LANGUAGE_CODE.fullmatch(value):
            raise ValueError("must be a lowercase language code such as en or hi")
        return value

    @field_validator("offered", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # From the environment the list comes as text: KYCBOT_LANGUAGE__OFFERED=en,hi
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("offered")
    @classmethod
    def _language_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for code in value:
            if not LANGUAGE_CODE.fullmatch(code):
                raise ValueError(f"{code!r} is not a lowercase language code such as en or hi")
        if len(set(value)) != len(value):
            raise ValueError("names a language twice")
        return value

    @model_validator(mode="after")
    def _default_is_offered(self) -> LanguageSettings:
        if self.default not in self.offered:
            raise KeyProblem(("offered",), f"must include the default language {self.default!r}")
        return self
