"""`[provider]` and `[providers.*]`: which KYC providers the bot uses, and how to reach each.

Credentials come from the environment (`KYCBOT_PROVIDERS__SANDBOX__API_KEY` and so on). A
provider named in `provider.order` without its credentials stops the bot at start with the
variable named: it never falls back silently to another provider, least of all the simulator.
"""

from __future__ import annotations

from typing import ClassVar, Literal

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
    "IdtoSettings",
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


class _RemoteProvider(BaseModel):
    """What every provider reached over HTTP has: a base URL and credentials to check."""

    model_config = _SECTION

    base_url: str
    _credentials: ClassVar[tuple[str, ...]] = ()

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value)

    def missing(self) -> KeyPath | None:
        """The first credential that is not set, as a key path below this section."""
        for name in self._credentials:
            if getattr(self, name) is None:
                return (name,)
        return None


class SandboxSettings(_RemoteProvider):
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

    _credentials: ClassVar[tuple[str, ...]] = ("api_key", "api_secret")


class AccuAuthSettings(_RemoteProvider):
    """`[providers.accuauth]`: AccuAuth Aadhaar OTP."""

    model_config = _SECTION

    base_url: str = "https://cloudapi.accuauth.in"
    api_id: SecretStr | None = None
    api_secret: SecretStr | None = None
    timeout_seconds: PositiveFloat = 20.0

    _credentials: ClassVar[tuple[str, ...]] = ("api_id", "api_secret")


class IdtoSettings(_RemoteProvider):
    """`[providers.idto]`: IDTO's DigiLocker, the second verification method."""

    model_config = _SECTION

    base_url: str = "https://dev.idto.ai"
    api_key: SecretStr | None = None
    client_id: SecretStr | None = None
    consent_purpose: str = Field(default="KYC verification for account onboarding", min_length=1)
    # DigiLocker document codes the user is asked to share (ADHAR: the Aadhaar card).
    documents_for_consent: tuple[str, ...] = Field(default=("ADHAR",), min_length=1)
    redirect_to_signup: bool = False
    timeout_seconds: PositiveFloat = 20.0

    _credentials: ClassVar[tuple[str, ...]] = ("api_key", "client_id")


class ProvidersSettings(BaseModel):
    """`[providers.*]`: one section per provider."""

    model_config = _SECTION

    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    accuauth: AccuAuthSettings = Field(default_factory=AccuAuthSettings)
    idto: IdtoSettings = Field(default_factory=IdtoSettings)

    def missing_credential(
        self, order: tuple[ProviderName, ...], *, digilocker: bool
    ) -> KeyProblem | None:
        """The first credential missing for a provider in use, naming its variable."""
        used: list[tuple[str, str]] = [(name, f"provider.order names {name}") for name in order]
        if digilocker:
            used.append(("idto", "flow.methods names digilocker"))
        for name, because in used:
            section = getattr(self, name)
            missing = section.missing() if isinstance(section, _RemoteProvider) else None
            if missing is not None:
                path = ("providers", name, *missing)
                return KeyProblem(path, f"required because {because}; set {env_name(path)}")
        return None
