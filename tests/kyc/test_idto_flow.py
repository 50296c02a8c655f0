"""The IDTO DigiLocker client against a fake IDTO on 127.0.0.1: the whole round trip
(initiate -> the user allows on DigiLocker -> get_reference), PKCE checked by the server, and
each fault reaching the caller as the right failure."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from flows import ProviderFailure as F
from kyc.idto import (
    DigiLockerFailure,
    IdtoDigiLocker,
    Pkce,
    ReferenceIssued,
    SessionStarted,
    new_pkce,
)
from tests.fakes.idto_server import (
    INITIATE_PATH,
    REFERENCE_PATH,
    FakeIdto,
    Fault,
    closed_port_url,
)

BACK = "https://bot.example/digilocker/callback?lang=en"
USER = "verification-5b2e"
STATE = "state-kQ3xN8wR"
PURPOSE = "KYC verification for account onboarding"


@pytest.fixture
async def fake() -> AsyncIterator[FakeIdto]:
    async with FakeIdto() as server:
        yield server


@pytest.fixture
async def idto(fake: FakeIdto) -> AsyncIterator[IdtoDigiLocker]:
    client = connect(fake)
    yield client
    await client.aclose()


def connect(
    fake: FakeIdto, *, base_url: str = "", timeout_seconds: float = 2.0, **options: object
) -> IdtoDigiLocker:
    settings: dict[str, object] = {
        "api_key": fake.api_key,
        "client_id": fake.client_id,
        "consent_purpose": PURPOSE,
        "base_url": base_url or fake.url,
        "timeout_seconds": timeout_seconds,
        **options,
    }
    return IdtoDigiLocker(**settings)  # type: ignore[arg-type]


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


async def start(idto: IdtoDigiLocker, pkce: Pkce) -> SessionStarted:
    started = await idto.initiate_session(user_id=USER, redirect_url=BACK, state=STATE, pkce=pkce)
    assert isinstance(started, SessionStarted)
    return started


async def allowed_code(idto: IdtoDigiLocker, fake: FakeIdto, pkce: Pkce) -> str:
    """Initiate, let the user allow on DigiLocker, and check where they come back to."""
    back = await fake.consent((await start(idto, pkce)).url)
    assert back.startswith("https://bot.example/digilocker/callback?lang=en&")
    params = query(back)
    assert params["state"] == STATE
    return params["code"]


async def test_the_whole_round_trip(
    idto: IdtoDigiLocker, fake: FakeIdto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pkce = new_pkce()
    code = await allowed_code(idto, fake, pkce)
    issued = await idto.get_reference(user_id=USER, code=code, code_verifier=pkce.code_verifier)

    assert isinstance(issued, ReferenceIssued)
    assert issued.reference_key in fake.references
    assert issued.expires_at is not None
    assert timedelta(minutes=59) < issued.expires_at - datetime.now(UTC) <= timedelta(hours=1)
    [initiated] = fake.calls_to(INITIATE_PATH)
    assert isinstance(initiated.body, dict)
    assert initiated.body["code_challenge"] == pkce.code_challenge
    assert initiated.body["code_challenge_method"] == "S256"
    assert (initiated.headers["x-api-key"], initiated.headers["x-client-id"]) == (
        fake.api_key,
        fake.client_id,
    )
    calls = [r.getMessage() for r in caplog.records if r.name == "kyc.calls"]
    assert [line.split(" latency_ms=")[0] for line in calls] == [
        "provider=idto endpoint=initiate_session status=200 outcome=session_started "
        "request_id=idto-req-1",
        "provider=idto endpoint=get_reference status=200 outcome=reference_issued "
        "request_id=idto-req-2",
    ]
    # The client's own lines and its HTTP calls; the simulated browser logs the redirect URL.
    ours = "\n".join(
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("kyc") or "POST" in r.getMessage()
    )
    secrets = (code, pkce.code_verifier, STATE, USER, fake.api_key, fake.client_id)
    for secret in (*secrets, issued.reference_key):
        assert secret not in ours


async def test_a_code_is_redeemed_once(idto: IdtoDigiLocker, fake: FakeIdto) -> None:
    pkce = new_pkce()
    code = await allowed_code(idto, fake, pkce)
    first = await idto.get_reference(user_id=USER, code=code, code_verifier=pkce.code_verifier)
    again = await idto.get_reference(user_id=USER, code=code, code_verifier=pkce.code_verifier)
    assert isinstance(first, ReferenceIssued)
    assert again == DigiLockerFailure(
        F.SESSION_INVALID, "http 400: code invalid, expired or already used"
    )


async def test_only_the_verifier_of_the_challenge_redeems_the_code(
    idto: IdtoDigiLocker, fake: FakeIdto
) -> None:
    pkce = new_pkce()
    code = await allowed_code(idto, fake, pkce)
    stolen = await idto.get_reference(
        user_id=USER, code=code, code_verifier=new_pkce().code_verifier
    )
    assert isinstance(stolen, DigiLockerFailure)
    assert stolen.failure is F.SESSION_INVALID
    # The right verifier still works: a wrong one does not burn the code.
    right = await idto.get_reference(user_id=USER, code=code, code_verifier=pkce.code_verifier)
    assert isinstance(right, ReferenceIssued)


@pytest.mark.parametrize("spoil", ["expire", "unknown", "other_user"])
async def test_a_spent_code_ends_the_session(
    idto: IdtoDigiLocker, fake: FakeIdto, spoil: str
) -> None:
    pkce = new_pkce()
    code = await allowed_code(idto, fake, pkce)
    user = USER
    if spoil == "expire":
        fake.expire_codes()
    elif spoil == "unknown":
        code = code[::-1]
    else:
        user = "verification-other"
    outcome = await idto.get_reference(user_id=user, code=code, code_verifier=pkce.code_verifier)
    assert isinstance(outcome, DigiLockerFailure)
    assert outcome.failure is F.SESSION_INVALID


async def test_a_user_who_declines_comes_back_without_a_code(
    idto: IdtoDigiLocker, fake: FakeIdto
) -> None:
    started = await start(idto, new_pkce())
    back = query(await fake.consent(started.url, allow=False))
    assert back == {"lang": "en", "error": "access_denied", "state": STATE}


async def test_a_rejected_key_pair_is_named_in_the_log(
    fake: FakeIdto, caplog: pytest.LogCaptureFixture
) -> None:
    idto = connect(fake, api_key="idto-key-of-another-app")
    outcome = await idto.initiate_session(
        user_id=USER, redirect_url=BACK, state=STATE, pkce=new_pkce()
    )
    await idto.aclose()
    assert isinstance(outcome, DigiLockerFailure)
    assert outcome.failure is F.MISCONFIGURED
    assert caplog.records[-1].levelno == logging.ERROR
    assert caplog.records[-1].getMessage() == (
        "idto initiate_session: http 401: IDTO rejected the X-API-KEY / X-Client-ID pair "
        "(both headers were sent): check that the key and the client id belong to the same "
        "IDTO app and environment (dev.idto.ai vs production)"
    )


@pytest.mark.parametrize(
    ("documents", "redirect_url", "detail"),
    [
        (("AADHAAR",), BACK, "documents_for_consent rejected (3001)"),
        (("ADHAR",), "", "redirect URL missing or refused (3002)"),
    ],
)
async def test_settings_idto_refuses(
    fake: FakeIdto,
    caplog: pytest.LogCaptureFixture,
    documents: tuple[str, ...],
    redirect_url: str,
    detail: str,
) -> None:
    idto = connect(fake, documents_for_consent=documents)
    outcome = await idto.initiate_session(
        user_id=USER, redirect_url=redirect_url, state=STATE, pkce=new_pkce()
    )
    await idto.aclose()
    assert isinstance(outcome, DigiLockerFailure)
    assert (outcome.failure, outcome.detail.startswith(f"http 400: {detail}")) == (
        F.MISCONFIGURED,
        True,
    )
    assert f"idto initiate_session: http 400: {detail}" in caplog.records[-1].getMessage()


@pytest.mark.parametrize(
    ("fault", "failure", "detail"),
    [
        (Fault(delay_seconds=1.0), F.PROVIDER_DOWN, "no answer: timeout"),
        (Fault(status=503), F.PROVIDER_DOWN, "http 503"),
        (Fault(raw=b'{"status": "success", "url": '), F.PROVIDER_DOWN, "http 200: not a JSON"),
        (
            Fault(status=502, raw=b"<html>502 Bad Gateway</html>", content_type="text/html"),
            F.PROVIDER_DOWN,
            "http 502: not a JSON object",
        ),
        (Fault(status=429), F.RATE_LIMITED, "http 429: too many requests"),
        (Fault(status=401), F.MISCONFIGURED, "http 401: IDTO rejected the X-API-KEY"),
        (Fault(status=400, code=3001), F.MISCONFIGURED, "http 400: documents_for_consent"),
        (Fault(status=400, code=3002), F.MISCONFIGURED, "http 400: redirect URL missing"),
    ],
)
async def test_faults_reach_the_caller_as_failures(
    fake: FakeIdto, fault: Fault, failure: F, detail: str
) -> None:
    idto = connect(fake, timeout_seconds=0.2)
    fake.fail_next(Fault(**{**vars(fault), "path": INITIATE_PATH}))
    started = await idto.initiate_session(
        user_id=USER, redirect_url=BACK, state=STATE, pkce=new_pkce()
    )
    fake.fail_next(Fault(**{**vars(fault), "path": REFERENCE_PATH}))
    redeemed = await idto.get_reference(user_id=USER, code="c", code_verifier="v")
    await idto.aclose()
    for outcome in (started, redeemed):
        assert isinstance(outcome, DigiLockerFailure)
        assert outcome.failure is failure
        assert outcome.detail.startswith(detail)


async def test_a_refused_connection_is_the_provider_being_down(fake: FakeIdto) -> None:
    idto = connect(fake, base_url=closed_port_url())
    started = await idto.initiate_session(
        user_id=USER, redirect_url=BACK, state=STATE, pkce=new_pkce()
    )
    redeemed = await idto.get_reference(user_id=USER, code="c", code_verifier="v")
    await idto.aclose()
    for outcome in (started, redeemed):
        assert outcome == DigiLockerFailure(F.PROVIDER_DOWN, "no answer: connect_failed")
