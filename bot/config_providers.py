"""`[provider]` and `[providers.*]`: which KYC providers the bot uses, and how to reach each.

Credentials come from the environment (`KYCBOT_PROVIDERS__SANDBOX__API_KEY` and so on). A
provider named in `provider.order` without its credentials stops the bot at start with the
variable named: it never falls back silently to another provider, least of all the simulator.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
)

from bot.config_errors import KeyPath, KeyProblem, env_name

__all__ = [
    "AccuAuthSettings",
    "ProviderName",
    "ProviderSettings",
    "ProvidersSettings",
    "SandboxSettings",
    "SimulatorSettings",
]

ProviderName = Literal["simulator", "sandbox", "accuauth"]
_SECTION = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


class ProviderSettings(BaseModel):
    """`[provider]`: the providers to use, in order of preference."""

    model_config = _SECTION

    # When the first cannot serve a new OTP request (down, misconfigured, out of quota), the
    # next is tried; an answer about the number itself is final.
    order: tuple[ProviderName, ...] = ("simulator",)

    @field_validator("order", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # From the environment the list comes as text: KYCBOT_PROVIDER__ORDER=sandbox,accuauth
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("order")
    @classmethod
    def _distinct(cls, value: tuple[ProviderName, ...]) -> tuple[ProviderName, ...]:
        if not value:
            raise ValueError("names no provider; list at least one, such as simulator")
        if len(set(value)) != len(value):
            raise ValueError("names a provider twice")
        return value


class SimulatorSettings(BaseModel):
    """`[providers.simulator]`: the offline provider for the demo and the tests."""

    model_config = _SECTION

    latency_ms: NonNegativeInt = 0
    otp_ttl_seconds: PositiveInt = 600


class SandboxSettings(BaseModel):
    """`[providers.sandbox]`: Sandbox.co.in Aadhaar OKYC."""

    model_config = _SECTION

    # Sandbox's test host is https://test-api.sandbox.co.in; switching is only this URL.
    base_url: str = "https://api.sandbox.co.in"
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    api_version: str | None = None
    # Sandbox's pages disagree: its authentication guide sends the token raw, the OKYC
    # recipe as "Bearer <token>".
    authorization_scheme: Literal["raw", "bearer"] = "raw"
    reason: str = Field(default="KYC verification for account onboarding", min_length=1)
    timeout_seconds: PositiveFloat = 20.0

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value)

    def missing(self) -> KeyPath | None:
        """The first credential that is not set, as a key path below this section."""
        for name in ("api_key", "api_secret"):
            if getattr(self, name) is None:
                return (name,)
        return None


class AccuAuthSettings(BaseModel):
    """`[providers.accuauth]`: AccuAuth Aadhaar OTP."""

    model_config = _SECTION

    base_url: str = "https://cloudapi.accuauth.in"
    api_id: SecretStr | None = None
    api_secret: SecretStr | None = None
    timeout_seconds: PositiveFloat = 20.0

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value)

    def missing(self) -> KeyPath | None:
        """The first credential that is not set, as a key path below this section."""
        for name in ("api_id", "api_secret"):
            if getattr(self, name) is None:
                return (name,)
        return None


class ProvidersSettings(BaseModel):
    """`[providers.*]`: one section per provider."""

    model_config = _SECTION

    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    accuauth: AccuAuthSettings = Field(default_factory=AccuAuthSettings)

    def missing_credential(self, order: tuple[ProviderName, ...]) -> KeyProblem | None:
        """The first credential missing for a provider in `order`, naming its variable."""
        for name in order:
            section = getattr(self, name)
            missing = section.missing() if hasattr(section, "missing") else None
            if missing is not None:
                path = ("providers", name, *missing)
                reason = f"required because provider.order names {name}; set {env_name(path)}"
                return KeyProblem(path, reason)
        return None
