"""Settings: the example file, environment overrides, and one-line errors that name the key."""

from __future__ import annotations

import base64
import dataclasses
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from bot.config import ConfigError, FlowSettings, Settings, load_settings
from flows.catalogue import CATALOGUE, PromptKey
from flows.prompts import SHIPPED_LANGUAGES, shipped_prompt
from flows.record import AddressPolicy, BirthDatePolicy, FieldPolicy, GenderPolicy, NamePolicy
from flows.rules import Rules

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
HMAC_KEY = "hmac-key-that-must-never-be-printed-0123456789"
AES_KEY = bytes(range(32))
ENCRYPTION_KEY = base64.urlsafe_b64encode(AES_KEY).decode()
SECRETS = {
    "KYCBOT_SECURITY__HMAC_KEY": HMAC_KEY,
    "KYCBOT_SECURITY__ENCRYPTION_KEY": ENCRYPTION_KEY,
}


def load(tmp_path: Path, toml: str | None = None, **environ: str) -> Settings:
    """Load `toml` (no file when None) with the two secrets and `environ` set."""
    path = None
    if toml is not None:
        path = tmp_path / "config.toml"
        path.write_text(toml, encoding="utf-8")
    return load_settings(path, {**SECRETS, **environ})


def config_error(tmp_path: Path, toml: str | None = None, **environ: str) -> str:
    """The ConfigError message for this config, checked to be one line without secrets."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, toml, **environ)
    message = str(caught.value)
    assert message
    assert "\n" not in message
    assert "\r" not in message
    for name, value in {**SECRETS, **environ}.items():
        if "SECURITY" in name or "secret" in value:
            assert value not in message
    return message


# ---- config.example.toml


def example_toml() -> dict[str, Any]:
    with EXAMPLE.open("rb") as file:
        return tomllib.load(file)


def test_example_file_is_exactly_the_defaults() -> None:
    assert load_settings(EXAMPLE, SECRETS) == load_settings(None, SECRETS)


def model_keys(model: type[BaseModel], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from model_keys(field.annotation, (*path, name))
        else:
            yield (*path, name)


def lookup(table: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        table = table[part]
    return table


def test_example_file_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    parsed = example_toml()
    for path in model_keys(Settings):
        dotted = ".".join(path)
        if path == ("prompts",):
            continue  # below
        section, key = lookup(parsed, path[:-1]), path[-1]
        field = lookup_field(path)
        if field in (SecretStr, SecretStr | None):
            variable = "KYCBOT_" + "__".join(part.upper() for part in path)
            assert key not in section, f"{dotted} is a secret and must not be set in the file"
            assert f"# {variable}=" in text, f"{dotted}: show {variable} in a comment"
        elif lookup_default(path) is None:
            # TOML has no null: an optional key is shown commented out with an example.
            assert f"# {key} = " in text, f"{dotted}: show it commented out in {EXAMPLE.name}"
        else:
            assert key in section, f"{dotted} is missing from {EXAMPLE.name}"


def lookup_default(path: tuple[str, ...]) -> Any:
    model: Any = Settings
    for part in path[:-1]:
        model = model.model_fields[part].annotation
    return model.model_fields[path[-1]].default


def lookup_field(path: tuple[str, ...]) -> Any:
    model: Any = Settings
    for part in path:
        model = model.model_fields[part].annotation
    return model


def test_example_file_lists_every_prompt_with_its_default() -> None:
    english = example_toml()["prompts"]["en"]
    assert set(english) == {key.value for key in PromptKey}
    for key in PromptKey:
        assert english[key.value] == CATALOGUE[key].default, key.value


@pytest.mark.parametrize("language", [code for code in SHIPPED_LANGUAGES if code != "en"])
def test_example_file_lists_every_shipped_translation(language: str) -> None:
    written = example_toml()["prompts"][language]
    assert set(written) == {key.value for key in PromptKey}
    for key in PromptKey:
        assert written[key.value] == shipped_prompt(language, key), f"prompts.{language}.{key}"


def test_example_file_has_a_security_section_with_comments_only() -> None:
    assert example_toml()["security"] == {}


# ---- defaults and overrides


def test_defaults_mirror_the_flow_rules() -> None:
    settings = load_settings(None, SECRETS)
    assert settings.rules() == Rules()
    assert settings.zone() == ZoneInfo("Asia/Kolkata")
    assert settings.provider.order == ("simulator",)
    assert settings.language.default == "en"
    assert settings.logging.level == "INFO"
    assert settings.security.hmac_key_bytes() == HMAC_KEY.encode()
    assert settings.security.encryption_key_bytes() == AES_KEY


def test_flow_settings_hold_every_rule() -> None:
    # notice_version comes from [consent] and the prompts (bot.consent_version), not [flow].
    rule_names = {field.name for field in dataclasses.fields(Rules)} - {
        "field_policy",
        "notice_version",
    }
    own = {"sweep_interval_seconds", "timezone"}
    assert set(FlowSettings.model_fields) - own == rule_names


def test_environment_overrides_file_and_defaults(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[database]\nurl = "sqlite+aiosqlite:///from-file.sqlite3"\n',
        KYCBOT_DATABASE__URL="postgresql+asyncpg://kyc@db/kycbot",
        KYCBOT_FLOW__OTP_TTL_SECONDS="30",
        KYCBOT_FLOW__VALIDATE_CHECKSUM="false",
        KYCBOT_PROVIDERS__SIMULATOR__LATENCY_MS="250",
        KYCBOT_LOGGING__LEVEL="debug",
        KYCBOT_PROMPTS__HI__OTP_WRONG="OTP गलत है। {attempts_left}",
    )
    assert settings.database.url == "postgresql+asyncpg://kyc@db/kycbot"
    assert settings.flow.otp_ttl_seconds == 30
    assert isinstance(settings.flow.otp_ttl_seconds, int)
    assert settings.flow.validate_checksum is False
    assert settings.providers.simulator.latency_ms == 250
    assert settings.logging.level == "DEBUG"
    assert settings.prompt("hi", PromptKey.OTP_WRONG) == "OTP गलत है। {attempts_left}"


def test_variables_without_a_double_underscore_are_not_config(tmp_path: Path) -> None:
    settings = load(
        tmp_path, KYCBOT_TEST_POSTGRES_URL="postgresql://x", KYCBOT_CONFIG="elsewhere.toml"
    )
    assert settings == load_settings(None, SECRETS)


def test_standard_unpadded_base64_keys_are_accepted(tmp_path: Path) -> None:
    standard = base64.b64encode(AES_KEY).decode()
    unpadded = ENCRYPTION_KEY.rstrip("=")
    for key in (standard, unpadded):
        settings = load(tmp_path, KYCBOT_SECURITY__ENCRYPTION_KEY=key)
        assert settings.security.encryption_key_bytes() == AES_KEY


def test_rules_mirror_the_flow_and_result_sections(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [flow]
        validate_checksum = false
        max_invalid_entries = 7
        otp_attempts = 4
        max_otp_sends = 2
        resend_cooldown_seconds = 30
        otp_ttl_seconds = 300
        idle_timeout_seconds = 1200
        max_otp_requests_per_day = 9
        max_failed_verifications = 6
        lockout_seconds = 3600
        call_timeout_seconds = 45
        timezone = "UTC"

        [result]
        name = "full"
        date_of_birth = "drop"
        gender = "drop"
        address = "full"
        """,
    )
    assert settings.rules() == Rules(
        validate_checksum=False,
        max_invalid_entries=7,
        otp_attempts=4,
        max_otp_sends=2,
        resend_cooldown_seconds=30,
        otp_ttl_seconds=300,
        idle_timeout_seconds=1200,
        max_otp_requests_per_day=9,
        max_failed_verifications=6,
        lockout_seconds=3600,
        call_timeout_seconds=45,
        field_policy=FieldPolicy(
            name=NamePolicy.FULL,
            date_of_birth=BirthDatePolicy.DROP,
            gender=GenderPolicy.DROP,
            address=AddressPolicy.FULL,
        ),
    )
    assert settings.zone() == ZoneInfo("UTC")


def test_prompt_falls_back_to_shipped_then_english_then_the_catalogue(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [prompts.en]
        otp_expired = "This code is no longer valid."
        help = "Ask us anything."
        [prompts.hi]
        otp_expired = "यह OTP समाप्त हो गया है।"
        """,
    )
    assert settings.prompt("hi", PromptKey.OTP_EXPIRED) == "यह OTP समाप्त हो गया है।"
    assert settings.prompt("HI", PromptKey.OTP_EXPIRED) == "यह OTP समाप्त हो गया है।"
    # Hindi is shipped: its own text comes before an English override.
    assert settings.prompt("hi", PromptKey.HELP) == shipped_prompt("hi", PromptKey.HELP)
    assert settings.prompt("ta", PromptKey.HELP) == "Ask us anything."
    assert settings.prompt("ta", PromptKey.OTP_EXPIRED) == "This code is no longer valid."
    assert settings.prompt("ta", PromptKey.VERIFIED) == CATALOGUE[PromptKey.VERIFIED].default


def test_settings_are_frozen() -> None:
    settings = load_settings(None, SECRETS)
    with pytest.raises(ValidationError):
        settings.flow.otp_attempts = 9  # type: ignore[misc]


# ---- secrets


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        KYCBOT_TELEGRAM__TOKEN="123456:telegram-secret-token",
        KYCBOT_DATABASE__URL="postgresql+asyncpg://kyc:db-secret-password@db/kycbot",
    )
    for shown in (repr(settings), str(settings)):
        for secret in (HMAC_KEY, ENCRYPTION_KEY, "telegram-secret-token", "db-secret-password"):
            assert secret not in shown
    assert "postgresql+asyncpg://kyc:***@db/kycbot" in repr(settings)
    assert settings.telegram.token.get_secret_value() == "123456:telegram-secret-token"


def test_validation_errors_do_not_echo_inputs() -> None:
    secret = "short-secret"
    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"security": {"hmac_key": secret, "encryption_key": "x"}})
    assert secret not in str(caught.value)


# ---- one-line errors

ERRORS = [
    pytest.param(
        "[flow]\notp_tll_seconds = 5\n",
        {},
        "flow.otp_tll_seconds: unknown key (did you mean otp_ttl_seconds?)",
        id="unknown key in file",
    ),
    pytest.param(
        None,
        {"KYCBOT_FLOW__OTP_TLL_SECONDS": "5"},
        "flow.otp_tll_seconds: unknown key (did you mean otp_ttl_seconds?)"
        " (from KYCBOT_FLOW__OTP_TLL_SECONDS)",
        id="unknown key in env",
    ),
    pytest.param(
        "[flwo]\notp_attempts = 2\n",
        {},
        "flwo: unknown key (did you mean flow?)",
        id="unknown section",
    ),
    pytest.param(
        '[telegram]\nbase_url = "http://127.0.0.1:8081/bot"\n',
        {"KYCBOT_TELEGRAM__BASE_URL__HOST": "x"},
        "telegram.base_url.host: telegram.base_url is a value, not a section"
        " (from KYCBOT_TELEGRAM__BASE_URL__HOST)",
        id="env below a value in the file",
    ),
    pytest.param(
        None,
        {"KYCBOT_TELEGRAM__TOKEN__EXTRA": "x"},
        "telegram.token: Input should be a valid string (from KYCBOT_TELEGRAM__TOKEN__EXTRA)",
        id="env below a value",
    ),
    pytest.param(
        "[providers.simulator]\nlatency_ms = 1\n",
        {"KYCBOT_PROVIDERS__SIMULATOR": "fast"},
        "providers.simulator: is a section, not a value (from KYCBOT_PROVIDERS__SIMULATOR)",
        id="env replacing a section",
    ),
    pytest.param(
        'flow = "fast"\n',
        {},
        "flow: must be a section (a TOML table), not a single value",
        id="value for a section",
    ),
    pytest.param(
        '[flow]\notp_ttl_seconds = "ten"\n',
        {},
        "flow.otp_ttl_seconds: Input should be a valid integer, unable to parse string as an"
        " integer",
        id="wrong type in file",
    ),
    pytest.param(
        None,
        {"KYCBOT_FLOW__OTP_TTL_SECONDS": "10m"},
        "flow.otp_ttl_seconds: Input should be a valid integer, unable to parse string as an"
        " integer (from KYCBOT_FLOW__OTP_TTL_SECONDS)",
        id="wrong type in env",
    ),
    pytest.param(
        "[flow]\notp_attempts = 0\n",
        {},
        "flow.otp_attempts: Input should be greater than 0",
        id="zero limit",
    ),
    pytest.param(
        '[flow]\ntimezone = "Asia/Kolkatta"\n',
        {},
        "flow.timezone: unknown time zone 'Asia/Kolkatta' (use an IANA name such as Asia/Kolkata)",
        id="unknown time zone",
    ),
    pytest.param(
        '[result]\nname = "initials"\n',
        {},
        "result.name: Input should be 'full', 'masked' or 'drop'",
        id="unknown policy",
    ),
    pytest.param(
        '[provider]\norder = ["sandbox", "nsdl"]\n',
        {},
        "provider.order.1: Input should be 'simulator', 'sandbox' or 'accuauth'",
        id="unknown provider",
    ),
    pytest.param(
        "[provider]\norder = []\n",
        {},
        "provider.order: names no provider; list at least one, such as simulator",
        id="no provider",
    ),
    pytest.param(
        "",
        {"KYCBOT_PROVIDER__ORDER": "sandbox, sandbox"},
        "provider.order: names a provider twice (from KYCBOT_PROVIDER__ORDER)",
        id="provider twice",
    ),
    pytest.param(
        '[provider]\norder = ["sandbox"]\n',
        {"KYCBOT_PROVIDERS__SANDBOX__API_KEY": "key"},
        "providers.sandbox.api_secret: required because provider.order names sandbox; "
        "set KYCBOT_PROVIDERS__SANDBOX__API_SECRET",
        id="provider without its secret",
    ),
    pytest.param(
        "",
        {"KYCBOT_PROVIDER__ORDER": "simulator,accuauth"},
        "providers.accuauth.api_id: required because provider.order names accuauth; "
        "set KYCBOT_PROVIDERS__ACCUAUTH__API_ID",
        id="fallback provider without credentials",
    ),
    pytest.param(
        "",
        {"KYCBOT_FLOW__METHODS": "aadhaar_otp,digilocker"},
        "providers.idto.api_key: required because flow.methods names digilocker; "
        "set KYCBOT_PROVIDERS__IDTO__API_KEY",
        id="digilocker without IDTO credentials",
    ),
    pytest.param(
        '[flow]\nmethods = ["digilocker"]\n',
        {"KYCBOT_PROVIDERS__IDTO__API_KEY": "k", "KYCBOT_PROVIDERS__IDTO__CLIENT_ID": "c"},
        "web.public_url: required because flow.methods names digilocker",
        id="digilocker without a public URL",
    ),
    pytest.param(
        '[flow]\nmethods = ["otp"]\n',
        {},
        "flow.methods.0: Input should be 'aadhaar_otp' or 'digilocker'",
        id="unknown method",
    ),
    pytest.param(
        '[providers.sandbox]\nbase_url = "api.sandbox.co.in"\n',
        {},
        "providers.sandbox.base_url: must start with http:// or https://",
        id="provider URL without scheme",
    ),
    pytest.param(
        '[database]\nurl = "kycbot.sqlite3"\n',
        {},
        "database.url: is not a database URL (for example sqlite+aiosqlite:///kycbot.sqlite3"
        " or postgresql+asyncpg://user@host/kycbot)",
        id="bad database url",
    ),
    pytest.param(
        None,
        {"KYCBOT_SECURITY__HMAC_KEY": "too-short-secret"},
        "security.hmac_key: must be at least 32 characters (from KYCBOT_SECURITY__HMAC_KEY)",
        id="short hmac key",
    ),
    pytest.param(
        None,
        {"KYCBOT_SECURITY__ENCRYPTION_KEY": "not base64 secret!"},
        "security.encryption_key: must be base64 of 32 bytes; generate one with:",
        id="encryption key not base64",
    ),
    pytest.param(
        None,
        {"KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(b"secret" * 4).decode()},
        "security.encryption_key: must be base64 of 32 bytes, not 24;",
        id="encryption key of the wrong length",
    ),
    pytest.param(
        '[prompts.en]\notp_wrong = "Wrong. {foo} left."\n',
        {},
        "prompts.en.otp_wrong: uses unknown placeholder {foo} (allowed: attempts_left)",
        id="unknown placeholder",
    ),
    pytest.param(
        '[prompts.hi]\notp_wrong = "OTP गलत है।"\n',
        {},
        "prompts.hi.otp_wrong: is missing placeholder {attempts_left}",
        id="missing placeholder",
    ),
    pytest.param(
        None,
        {"KYCBOT_PROMPTS__EN__OTP_WRONG": "{attempts_left"},
        "prompts.en.otp_wrong: is not a valid template (expected '}' before end of string;"
        " write {{ and }} for literal braces) (from KYCBOT_PROMPTS__EN__OTP_WRONG)",
        id="broken template in env",
    ),
    pytest.param(
        '[prompts.en]\notp_wrng = "Wrong."\n',
        {},
        "prompts.en.otp_wrng: unknown prompt (did you mean otp_wrong?)",
        id="unknown prompt",
    ),
    pytest.param(
        '[prompts.en]\nverified = "  "\n',
        {},
        "prompts.en.verified: is empty",
        id="empty prompt",
    ),
    pytest.param(
        '[prompts.EN]\nverified = "Done."\n',
        {},
        "prompts.EN: is not a language code; use a lowercase code such as en or hi",
        id="bad language code",
    ),
    pytest.param(
        None,
        {"KYCBOT_FLOW__": "1"},
        "flow.: empty key segment in KYCBOT_FLOW__",
        id="empty env segment",
    ),
]


@pytest.mark.parametrize(("toml", "environ", "expected"), ERRORS)
def test_bad_config_is_one_line_naming_the_key(
    tmp_path: Path, toml: str | None, environ: dict[str, str], expected: str
) -> None:
    assert config_error(tmp_path, toml, **environ).startswith(expected)


@pytest.mark.parametrize("variable", sorted(SECRETS))
def test_missing_key_names_its_variable(variable: str) -> None:
    environ = {name: value for name, value in SECRETS.items() if name != variable}
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ)
    key = variable.removeprefix("KYCBOT_").replace("__", ".").lower()
    assert str(caught.value) == f"{key}: required; set {variable}"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path, SECRETS)
    assert str(caught.value) == f"config file not found: {path}"


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[flow]\notp_attempts = = 3\n")
    assert message.endswith("config.toml: invalid TOML: Invalid value (at line 2, column 16)")


def test_secret_values_from_the_file_never_appear_in_errors(tmp_path: Path) -> None:
    bad_key = "this-is-a-secret-but-too-short"
    path = tmp_path / "config.toml"
    path.write_text(f'[security]\nhmac_key = "{bad_key}"\n', encoding="utf-8")
    environ = {"KYCBOT_SECURITY__ENCRYPTION_KEY": ENCRYPTION_KEY}
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ)
    assert str(caught.value) == "security.hmac_key: must be at least 32 characters"


def test_english_texts_equal_to_the_catalogue_are_not_overrides(tmp_path: Path) -> None:
    verified = CATALOGUE[PromptKey.VERIFIED].default
    settings = load(
        tmp_path,
        f'[prompts.en]\nverified = "{verified}"\n[prompts.hi]\nverified = "{verified}"\n',
    )
    assert settings.prompts == {"hi": {"verified": verified}}


def test_texts_equal_to_a_shipped_translation_are_not_overrides(tmp_path: Path) -> None:
    shipped = shipped_prompt("hi", PromptKey.VERIFIED)
    settings = load(tmp_path, f'[prompts.hi]\nverified = "{shipped}"\notp_expired = "समाप्त।"\n')
    assert settings.prompts == {"hi": {"otp_expired": "समाप्त।"}}
