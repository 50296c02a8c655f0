"""The bot's settings: a TOML file with `KYCBOT_<SECTION>__<KEY>` environment variables on top.

`load_settings` reads, overlays and validates; every problem becomes a `ConfigError` whose
message is one line that starts with the dotted key, for example
`flow.otp_ttl_seconds: Input should be greater than 0 (from KYCBOT_FLOW__OTP_TTL_SECONDS)`.
`config.example.toml` at the repository root documents every key with its default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.config_alerts import AlertSettings
from bot.config_console import ConsoleSettings
from bot.config_errors import (
    ENV_PREFIX,
    ENV_SEPARATOR,
    ConfigError,
    KeyPath,
    KeyProblem,
    describe,
    did_you_mean,
)
from bot.config_metrics import MetricsSettings
from bot.config_providers import (
    AccuAuthSettings,
    IdtoSettings,
    ProviderName,
    ProviderSettings,
    ProvidersSettings,
    SandboxSettings,
    SimulatorSettings,
)
from bot.config_retention import RetentionSettings
from bot.config_sections import (
    LANGUAGE_CODE,
    ConsentSettings,
    DatabaseSettings,
    FlowSettings,
    LanguageSettings,
    LoggingSettings,
    ResultSettings,
    SecuritySettings,
    TelegramSettings,
    WebSettings,
)
from flows.catalogue import CATALOGUE, PromptKey, placeholder_problem
from flows.prompts import shipped_prompt
from flows.record import FieldPolicy
from flows.rules import Method, Rules

__all__ = [
    "AccuAuthSettings",
    "AlertSettings",
    "ConfigError",
    "ConsentSettings",
    "ConsoleSettings",
    "DatabaseSettings",
    "FlowSettings",
    "IdtoSettings",
    "LanguageSettings",
    "LoggingSettings",
    "MetricsSettings",
    "ProviderName",
    "ProviderSettings",
    "ProvidersSettings",
    "ResultSettings",
    "RetentionSettings",
    "SandboxSettings",
    "SecuritySettings",
    "Settings",
    "SimulatorSettings",
    "TelegramSettings",
    "WebSettings",
    "load_settings",
]

# The catalogue's defaults are English, so English overrides are the next best thing.
FALLBACK_LANGUAGE = "en"
_PROMPT_NAMES = sorted(key.value for key in PromptKey)


class Settings(BaseModel):
    """Everything the bot is configured with, checked in full before anything runs."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    security: SecuritySettings
    flow: FlowSettings = Field(default_factory=FlowSettings)
    result: ResultSettings = Field(default_factory=ResultSettings)
    consent: ConsentSettings = Field(default_factory=ConsentSettings)
    provider: ProviderSettings = Field(default_factory=ProviderSettings)
    providers: ProvidersSettings = Field(default_factory=ProvidersSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    language: LanguageSettings = Field(default_factory=LanguageSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    # language code -> PromptKey value -> template; only real overrides are kept (see below)
    prompts: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _security_section(cls, data: Any) -> Any:
        # The keys come from the environment, so a missing [security] is normal: an empty
        # section makes the error name the missing key and its variable, not the section.
        if isinstance(data, dict) and "security" not in data:
            return {**data, "security": {}}
        return data

    @model_validator(mode="after")
    def _credentials_for_each_provider(self) -> Settings:
        digilocker = "digilocker" in self.flow.methods
        problem = self.providers.missing_credential(self.provider.order, digilocker=digilocker)
        if problem is not None:
            raise problem
        if digilocker and not self.web.public_url:
            raise KeyProblem(
                ("web", "public_url"),
                "required because flow.methods names digilocker (DigiLocker sends users back "
                "there); set KYCBOT_WEB__PUBLIC_URL",
            )
        return self

    @field_validator("prompts")
    @classmethod
    def _renderable_prompts(cls, prompts: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for language, templates in prompts.items():
            if not LANGUAGE_CODE.fullmatch(language):
                raise KeyProblem(
                    (language,), "is not a language code; use a lowercase code such as en or hi"
                )
            for name, template in templates.items():
                if name not in _PROMPT_NAMES:
                    suggestion = did_you_mean(name, _PROMPT_NAMES)
                    raise KeyProblem((language, name), "unknown prompt" + suggestion)
                problem = placeholder_problem(template, CATALOGUE[PromptKey(name)])
                if problem is None and not template.strip():
                    problem = "is empty"
                if problem is not None:
                    raise KeyProblem((language, name), problem)
        # A text equal to the shipped one changes nothing: dropping it makes a file that spells
        # out the defaults (config.example.toml) equal to no file at all.
        overrides = {
            code: {
                name: template
                for name, template in table.items()
                if template != shipped_prompt(code, PromptKey(name))
            }
            for code, table in prompts.items()
        }
        return {code: table for code, table in overrides.items() if table}

    def rules(self) -> Rules:
        """The flow limits and field policy as `flows.decide` takes them."""
        flow, result = self.flow, self.result
        return Rules(
            validate_checksum=flow.validate_checksum,
            max_invalid_entries=flow.max_invalid_entries,
            otp_attempts=flow.otp_attempts,
            max_otp_sends=flow.max_otp_sends,
            resend_cooldown_seconds=flow.resend_cooldown_seconds,
            otp_ttl_seconds=flow.otp_ttl_seconds,
            idle_timeout_seconds=flow.idle_timeout_seconds,
            max_otp_requests_per_day=flow.max_otp_requests_per_day,
            max_failed_verifications=flow.max_failed_verifications,
            lockout_seconds=flow.lockout_seconds,
            call_timeout_seconds=flow.call_timeout_seconds,
            methods=tuple(Method(method) for method in flow.methods),
            digilocker_ttl_seconds=flow.digilocker_ttl_seconds,
            field_policy=FieldPolicy(
                name=result.name,
                date_of_birth=result.date_of_birth,
                gender=result.gender,
                address=result.address,
            ),
        )

    def prompt(self, language: str, key: PromptKey) -> str:
        """The template for `key`: the language's override, its shipped text, else English's."""
        return self.own_prompt(language, key) or self.own_prompt(FALLBACK_LANGUAGE, key) or ""

    def own_prompt(self, language: str, key: PromptKey) -> str | None:
        """The template for `key` in `language` itself (override, else shipped), or None."""
        code = language.lower()
        override = self.prompts.get(code, {}).get(key.value)
        return override if override is not None else shipped_prompt(code, key)

    def zone(self) -> ZoneInfo:
        """The time zone in which times are shown to users."""
        return ZoneInfo(self.flow.timezone)


def load_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Read `path` (None: no file), overlay `KYCBOT_*__*` variables, validate; or ConfigError."""
    data = {} if path is None else _read_toml(path)
    origins = _overlay_environment(data, environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe(error, model=Settings, origins=origins)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: invalid TOML: the file is not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file: {error.strerror}") from None


def _overlay_environment(data: dict[str, Any], environ: Mapping[str, str]) -> dict[KeyPath, str]:
    """Set each `KYCBOT_A__B[__C...]` variable into `data` at `a.b[.c...]`; map keys to names."""
    origins: dict[KeyPath, str] = {}
    for name in sorted(environ):
        rest = name.removeprefix(ENV_PREFIX)
        if rest == name or ENV_SEPARATOR not in rest:
            continue  # KYCBOT_TEST_POSTGRES_URL and friends belong to someone else
        path = tuple(part.lower() for part in rest.split(ENV_SEPARATOR))
        dotted = ".".join(path)
        if not all(path):
            raise ConfigError(f"{dotted}: empty key segment in {name}")
        if path in origins:
            raise ConfigError(f"{dotted}: set by both {origins[path]} and {name}")
        table = data
        for depth, part in enumerate(path[:-1], start=1):
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                section = ".".join(path[:depth])
                raise ConfigError(f"{dotted}: {section} is a value, not a section (from {name})")
        if isinstance(table.get(path[-1]), dict):
            raise ConfigError(f"{dotted}: is a section, not a value (from {name})")
        table[path[-1]] = environ[name]
        origins[path] = name
    return origins
