"""The IDTO DigiLocker client over httpx.MockTransport: what it sends, what it makes of each
answer, what it logs, and what it never lets out (credentials, codes, verifiers, the state)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from flows import ProviderFailure as F
from kyc.idto import (
    DigiLockerFailure,
    IdtoDigiLocker,
    Pkce,
    ReferenceIssued,
    SessionStarted,
    new_pkce,
)

API_KEY = "idto-live-key-9d8e7f6a5b4c"
CLIENT_ID = "idto-client-7f3a9c"
BASE = "https://idto.test/base"
PURPOSE = "KYC verification for account onboarding"
BACK = "https://bot.example/digilocker/callback"
STATE = "st-Qm9vZHNjYXBl"
USER = "verification-81f2"
CODE = "dl-code-5c1e77aa90"
REFERENCE_KEY = "rk_8a7b6c5d4e3f"
PAGE = "https://digilocker.meripehchaan.gov.in/public/oauth2/1/authorize?req=abc"
PKCE = Pkce("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
AUTH_REQUIRED = (
    "Authentication required. Provide either a valid JWT token, API key + client ID, or SDK token."
)
Answer = Callable[[httpx.Request], httpx.Response]


def reply(http: int = 200, /, **body: object) -> Answer:
    return lambda request: httpx.Response(http, json=body)


def raw(status: int, content: bytes, content_type: str = "text/html") -> Answer:
    return lambda request: httpx.Response(
        status, content=content, headers={"content-type": content_type}
    )


def fail(error: type[httpx.TransportError]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return answer


STARTED = reply(status="success", url=PAGE, request_id="idto-7d1c")
ISSUED = reply(status="success", reference_key=REFERENCE_KEY, expires_at="2030-01-02T03:04:05Z")


@dataclass
class Wire:
    """The MockTransport handler: records each request, answers with the next `answers`."""

    answers: list[Answer] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0)(request)

    def body(self, index: int = -1) -> object:
        return json.loads(self.requests[index].content)


@pytest.fixture
def wire() -> Wire:
    return Wire()


def make(wire: Wire, **options: object) -> IdtoDigiLocker:
    settings: dict[str, object] = {
        "api_key": API_KEY,
        "client_id": CLIENT_ID,
        "consent_purpose": PURPOSE,
        "base_url": BASE + "/",
        **options,
    }
    return IdtoDigiLocker(**settings, transport=httpx.MockTransport(wire))  # type: ignore[arg-type]


@pytest.fixture
async def idto(wire: Wire) -> AsyncIterator[IdtoDigiLocker]:
    client = make(wire)
    yield client
    await client.aclose()


async def initiate(
    idto: IdtoDigiLocker, wire: Wire, answer: Answer
) -> SessionStarted | DigiLockerFailure:
    wire.answers.append(answer)
    return await idto.initiate_session(user_id=USER, redirect_url=BACK, state=STATE, pkce=PKCE)


async def redeem(
    idto: IdtoDigiLocker, wire: Wire, answer: Answer
) -> ReferenceIssued | DigiLockerFailure:
    wire.answers.append(answer)
    return await idto.get_reference(user_id=USER, code=CODE, code_verifier=PKCE.code_verifier)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_initiate_posts_the_consent_and_the_pkce_challenge_with_both_headers(
    idto: IdtoDigiLocker, wire: Wire
) -> None:
    assert await initiate(idto, wire, STARTED) == SessionStarted(PAGE)
    [request] = wire.requests
    assert (request.method, str(request.url)) == (
        "POST",
        f"{BASE}/verify/digilocker/initiate_session",
    )
    assert request.headers["X-API-KEY"] == API_KEY
    assert request.headers["X-Client-ID"] == CLIENT_ID
    assert request.headers["Content-Type"] == "application/json"
    assert wire.body() == {
        "user_id": USER,
        "consent": True,
        "consent_purpose": PURPOSE,
        "redirect_url": BACK,
        "redirect_to_signup": False,
        "documents_for_consent": ["ADHAR"],
        "state": STATE,
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    }


async def test_the_consent_settings_are_sent_as_configured(wire: Wire) -> None:
    idto = make(wire, documents_for_consent=("ADHAR", "PANCD"), redirect_to_signup=True)
    await initiate(idto, wire, STARTED)
    await idto.aclose()
    body = wire.body()
    assert isinstance(body, dict)
    assert (body["documents_for_consent"], body["redirect_to_signup"]) == (["ADHAR", "PANCD"], True)


async def test_get_reference_posts_the_code_and_the_verifier(
    idto: IdtoDigiLocker, wire: Wire
) -> None:
    issued = await redeem(idto, wire, ISSUED)
    assert issued == ReferenceIssued(REFERENCE_KEY, datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    [request] = wire.requests
    assert str(request.url) == f"{BASE}/verify/digilocker/get_reference"
    assert (request.headers["X-API-KEY"], request.headers["X-Client-ID"]) == (API_KEY, CLIENT_ID)
    assert wire.body() == {"user_id": USER, "code": CODE, "code_verifier": PKCE.code_verifier}


async def test_the_default_base_url_is_idtos_dev_host(wire: Wire) -> None:
    idto = make(wire, base_url="https://dev.idto.ai")
    default = IdtoDigiLocker(
        api_key=API_KEY,
        client_id=CLIENT_ID,
        consent_purpose=PURPOSE,
        transport=httpx.MockTransport(wire),
    )
    for client in (idto, default):
        await initiate(client, wire, STARTED)
        await client.aclose()
    assert {str(r.url) for r in wire.requests} == {
        "https://dev.idto.ai/verify/digilocker/initiate_session"
    }
    assert default.name == "idto"


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        (
            reply(400, status="error", code=3001, message="Invalid document codes: PANCARD"),
            "idto initiate_session: http 400: documents_for_consent rejected (3001): "
            "check providers.idto.documents_for_consent",
        ),
        (
            reply(400, detail={"code": 3002, "message": f"redirect_url {BACK} not allowed"}),
            "idto initiate_session: http 400: redirect URL missing or refused (3002): check the "
            "public URL the redirect is built from, and that IDTO allows it for this app",
        ),
        (
            reply(401, detail=AUTH_REQUIRED),
            "idto initiate_session: http 401: IDTO rejected the X-API-KEY / X-Client-ID pair "
            "(both headers were sent): check that the key and the client id belong to the same "
            "IDTO app and environment (dev.idto.ai vs production)",
        ),
    ],
)
async def test_a_setting_to_fix_is_one_error_line_naming_it(
    idto: IdtoDigiLocker,
    wire: Wire,
    caplog: pytest.LogCaptureFixture,
    answer: Answer,
    line: str,
) -> None:
    outcome = await initiate(idto, wire, answer)
    assert isinstance(outcome, DigiLockerFailure)
    assert outcome.failure is F.MISCONFIGURED
    call, explained = errors(caplog)
    assert "provider=idto endpoint=initiate_session status=" in call
    assert "outcome=misconfigured" in call
    assert explained == line
    assert line.endswith(outcome.detail)


async def test_idtos_401_on_get_reference_names_the_pair_too(
    idto: IdtoDigiLocker, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await redeem(idto, wire, reply(401, detail=AUTH_REQUIRED))
    assert isinstance(outcome, DigiLockerFailure)
    assert outcome.failure is F.MISCONFIGURED
    assert errors(caplog)[1].startswith(
        "idto get_reference: http 401: IDTO rejected the X-API-KEY / X-Client-ID pair"
    )


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (reply(400, status="error", message="Invalid authorization code"), F.SESSION_INVALID),
        (reply(400, error="invalid_grant", error_description="code expired"), F.SESSION_INVALID),
        (reply(404, message="Code not found or already used"), F.SESSION_INVALID),
        (reply(400, message="user_id is required"), F.MISCONFIGURED),
        (reply(403, detail="Forbidden"), F.MISCONFIGURED),
        (reply(429, detail="Too Many Requests"), F.RATE_LIMITED),
        (reply(503, detail="Service Unavailable"), F.PROVIDER_DOWN),
    ],
)
async def test_get_reference_errors(
    idto: IdtoDigiLocker, wire: Wire, caplog: pytest.LogCaptureFixture, answer: Answer, failure: F
) -> None:
    outcome = await redeem(idto, wire, answer)
    assert isinstance(outcome, DigiLockerFailure)
    assert outcome.failure is failure
    # A spent code is the user's to redo, not an operator's problem.
    assert bool(errors(caplog)) == (failure is F.MISCONFIGURED)


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (raw(200, b'{"status": "success", "url": ', "application/json"), "http 200: not a JSON"),
        (raw(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"), "http 502: not a JSON"),
        (raw(200, b'["https://x.example"]', "application/json"), "http 200: not a JSON object"),
        (raw(200, b""), "http 200: not a JSON object"),
        (reply(200, status="success"), "http 200: without"),
    ],
)
async def test_malformed_answers_are_the_provider_being_down(
    idto: IdtoDigiLocker, wire: Wire, answer: Answer, detail: str
) -> None:
    for outcome in (await initiate(idto, wire, answer), await redeem(idto, wire, answer)):
        assert isinstance(outcome, DigiLockerFailure)
        assert outcome.failure is F.PROVIDER_DOWN
        assert outcome.detail.startswith(detail)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (httpx.ReadTimeout, "timeout"),
        (httpx.WriteTimeout, "timeout"),
        (httpx.ConnectTimeout, "connect_failed"),
        (httpx.ConnectError, "connect_failed"),
        (httpx.RemoteProtocolError, "broken"),
        (httpx.ReadError, "broken"),
    ],
)
async def test_no_answer_is_the_provider_being_down_and_nothing_escapes(
    idto: IdtoDigiLocker, wire: Wire, error: type[httpx.TransportError], reason: str
) -> None:
    for outcome in (await initiate(idto, wire, fail(error)), await redeem(idto, wire, fail(error))):
        assert outcome == DigiLockerFailure(F.PROVIDER_DOWN, f"no answer: {reason}")
    assert len(wire.requests) == 2  # nothing retried


async def test_a_short_timeout_cuts_a_slow_answer(wire: Wire) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        # What httpx's own transport does when the read deadline passes.
        raise httpx.ReadTimeout("timed out", request=request)

    idto = IdtoDigiLocker(
        api_key=API_KEY,
        client_id=CLIENT_ID,
        consent_purpose=PURPOSE,
        timeout_seconds=0.05,
        transport=httpx.MockTransport(slow),
    )
    outcome = await idto.initiate_session(user_id=USER, redirect_url=BACK, state=STATE, pkce=PKCE)
    await idto.aclose()
    assert outcome == DigiLockerFailure(F.PROVIDER_DOWN, "no answer: timeout")


async def test_one_log_line_per_call(
    idto: IdtoDigiLocker, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await initiate(idto, wire, STARTED)
    await redeem(idto, wire, reply(400, message="Invalid code", transaction_id="tx-42"))
    await redeem(idto, wire, ISSUED)
    await initiate(idto, wire, fail(httpx.ReadTimeout))
    ours = [r for r in caplog.records if r.name.startswith("kyc")]
    assert [(r.name, r.levelno) for r in ours] == [
        ("kyc.calls", logging.INFO),
        ("kyc.calls", logging.INFO),
        ("kyc.calls", logging.INFO),
        ("kyc.calls", logging.WARNING),
    ]
    started, spent, issued, timed_out = (r.getMessage() for r in ours)
    assert started.startswith(
        "provider=idto endpoint=initiate_session status=200 outcome=session_started "
        "request_id=idto-7d1c latency_ms="
    )
    assert "endpoint=get_reference status=400 outcome=session_invalid request_id=tx-42 " in spent
    assert "endpoint=get_reference status=200 outcome=reference_issued request_id=- " in issued
    assert "endpoint=initiate_session status=timeout outcome=provider_down" in timed_out


async def test_nothing_secret_reaches_a_log_an_outcome_or_a_repr(
    idto: IdtoDigiLocker, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pkce = new_pkce()
    echo = f"code {CODE} verifier {pkce.code_verifier} state {STATE} key {API_KEY} {CLIENT_ID}"
    outcomes: list[object] = []
    for answer in (
        reply(status="success", url=f"{PAGE}&state={STATE}", request_id=echo),
        reply(400, message=echo, code=3001),
        reply(401, detail=echo),
        raw(500, echo.encode()),
        reply(200, status="error", message=echo),
    ):
        wire.answers.append(answer)
        outcomes.append(
            await idto.initiate_session(user_id=USER, redirect_url=BACK, state=STATE, pkce=pkce)
        )
    for answer in (
        reply(status="success", reference_key=REFERENCE_KEY, request_id=REFERENCE_KEY),
        reply(400, message=echo),
        reply(404, error="invalid_grant", error_description=echo),
        fail(httpx.ReadTimeout),
    ):
        wire.answers.append(answer)
        outcomes.append(
            await idto.get_reference(user_id=USER, code=CODE, code_verifier=pkce.code_verifier)
        )
    seen = "\n".join([caplog.text, repr(idto), repr(pkce), *(repr(o) for o in outcomes)])
    seen += "\n".join(getattr(outcome, "detail", "") for outcome in outcomes)
    for secret in (CODE, pkce.code_verifier, STATE, API_KEY, CLIENT_ID, REFERENCE_KEY, USER):
        assert secret not in seen


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"api_key": ""}, "KYCBOT_PROVIDERS__IDTO__API_KEY"),
        ({"client_id": ""}, "KYCBOT_PROVIDERS__IDTO__CLIENT_ID"),
        ({"api_key": SecretStr("")}, "KYCBOT_PROVIDERS__IDTO__API_KEY"),
        ({"api_key": API_KEY + "\n"}, "KYCBOT_PROVIDERS__IDTO__API_KEY"),
        ({"client_id": " " + CLIENT_ID}, "KYCBOT_PROVIDERS__IDTO__CLIENT_ID"),
    ],
)
def test_a_missing_or_unusable_credential_is_refused_by_name(
    settings: dict[str, object], variable: str
) -> None:
    with pytest.raises(ValueError, match=variable) as refused:
        make(Wire(), **settings)
    assert API_KEY not in str(refused.value)
    assert CLIENT_ID not in str(refused.value)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"consent_purpose": "  "}, "consent_purpose is empty"),
        ({"documents_for_consent": ()}, "documents_for_consent"),
        ({"documents_for_consent": ("ADHAR", "")}, "documents_for_consent"),
    ],
)
def test_unusable_consent_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(Wire(), **settings)


async def test_secret_str_credentials_are_sent_as_their_values(wire: Wire) -> None:
    idto = make(wire, api_key=SecretStr(API_KEY), client_id=SecretStr(CLIENT_ID))
    await initiate(idto, wire, STARTED)
    await idto.aclose()
    headers = wire.requests[0].headers
    assert (headers["X-API-KEY"], headers["X-Client-ID"]) == (API_KEY, CLIENT_ID)


async def test_an_empty_state_is_a_programming_error(idto: IdtoDigiLocker) -> None:
    with pytest.raises(ValueError, match="state"):
        await idto.initiate_session(user_id=USER, redirect_url=BACK, state="", pkce=PKCE)


class ClosingTransport(httpx.MockTransport):
    """A MockTransport that notes being closed, as the client's aclose closes its transport."""

    closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_aclose_closes_the_connections(wire: Wire) -> None:
    transport = ClosingTransport(wire)
    idto = IdtoDigiLocker(
        api_key=API_KEY, client_id=CLIENT_ID, consent_purpose=PURPOSE, transport=transport
    )
    await idto.aclose()
    assert transport.closed


async def test_a_request_id_is_dropped_only_when_it_repeats_a_secret(
    idto: IdtoDigiLocker, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for request_id in ("idto-7d1c", f"req-{CODE}", API_KEY):
        wire.answers.append(reply(400, message="Invalid code", request_id=request_id))
        await idto.get_reference(user_id="7", code=CODE, code_verifier=PKCE.code_verifier)
    for request_id in (STATE, "7"):
        wire.answers.append(reply(400, request_id=request_id))
        await idto.initiate_session(user_id="7", redirect_url=BACK, state=STATE, pkce=PKCE)
    ids = [
        r.getMessage().split("request_id=")[1].split()[0]
        for r in caplog.records
        if r.name == "kyc.calls"
    ]
    # A short user id inside an unrelated id is chance; the code or the state is not.
    assert ids == ["idto-7d1c", "-", "-", "-", "-"]
