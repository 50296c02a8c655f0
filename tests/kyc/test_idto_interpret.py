"""IDTO's one answer mapping and the PKCE pair, without any I/O."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows import ProviderFailure as F
from kyc.idto import Pkce, new_pkce
from kyc.idto_answers import (
    DigiLockerFailure,
    Endpoint,
    ReferenceIssued,
    SessionStarted,
    interpret,
)
from kyc.wire import NoAnswer, Unanswered, WireReply

INITIATE: Final = Endpoint.INITIATE_SESSION
REFERENCE: Final = Endpoint.GET_REFERENCE
PAGE = "https://digilocker.meripehchaan.gov.in/public/oauth2/1/authorize?x=1"
PAIR_REJECTED = (
    "IDTO rejected the X-API-KEY / X-Client-ID pair (both headers were sent): check that the key "
    "and the client id belong to the same IDTO app and environment (dev.idto.ai vs production)"
)
AUTH_REQUIRED = (
    "Authentication required. Provide either a valid JWT token, API key + client ID, or SDK token."
)


def reply(status: int, body: Mapping[str, object] | None) -> WireReply:
    return WireReply(status, body, 5)


def failed(endpoint: Endpoint, status: int, body: dict[str, object] | None) -> DigiLockerFailure:
    outcome = interpret(endpoint, reply(status, body))
    assert isinstance(outcome, DigiLockerFailure)
    return outcome


def test_the_challenge_of_the_rfc_7636_example() -> None:
    # Appendix B's verifier (the 32 octets 116, 24, 223 ... in base64url) and its challenge.
    pkce = Pkce("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    assert pkce.code_challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce.method == "S256"


def test_a_new_pair_follows_rfc_7636() -> None:
    pairs = [new_pkce() for _ in range(20)]
    assert len({pair.code_verifier for pair in pairs}) == 20
    for pair in pairs:
        assert re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", pair.code_verifier)
        digest = hashlib.sha256(pair.code_verifier.encode("ascii")).digest()
        assert pair.code_challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")
        assert "=" not in pair.code_challenge
        assert len(pair.code_challenge) == 43
        assert pair.code_verifier not in repr(pair)
        assert pair.code_challenge in repr(pair)


@pytest.mark.parametrize("verifier", ["a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + " ", ""])
def test_a_verifier_outside_rfc_7636_is_refused_without_being_echoed(verifier: str) -> None:
    with pytest.raises(ValueError, match="43-128 characters") as refused:
        Pkce(verifier)
    assert str(refused.value) == "a PKCE code_verifier is 43-128 characters of A-Z a-z 0-9 - . _ ~"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "success", "url": PAGE},
        {"data": {"url": PAGE}},
        {"authorization_url": PAGE},
        {"status": "success", "data": {"authorization_url": f"  {PAGE}\n"}},
    ],
)
def test_a_started_session_carries_the_page_url(body: dict[str, object]) -> None:
    assert interpret(INITIATE, reply(200, body)) == SessionStarted(PAGE)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8123/digilocker/authorize?s=1", "http://localhost/authorize"]
)
def test_plain_http_only_on_this_machine(url: str) -> None:
    assert interpret(INITIATE, reply(200, {"url": url})) == SessionStarted(url)


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://digilocker.example/authorize", "http 200: url is not https"),
        ("http://127.0.0.1.example.com/authorize", "http 200: url is not https"),
        ("javascript:alert(1)", "http 200: url is not https"),
        ("https://", "http 200: url is not https"),
        ("/digilocker/authorize", "http 200: url is not https"),
        ("https://digilocker.example/a b", "http 200: url is not https"),
        ("https://[::1/authorize", "http 200: url is not https"),
        (42, "http 200: without a url"),
        ("", "http 200: without a url"),
        (None, "http 200: without a url"),
    ],
)
def test_a_session_without_an_openable_url_is_the_provider_being_down(
    url: object, detail: str
) -> None:
    assert interpret(INITIATE, reply(200, {"status": "success", "url": url})) == DigiLockerFailure(
        F.PROVIDER_DOWN, detail
    )


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        ("2030-01-02T03:04:05Z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T08:34:05+05:30", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05.250000", datetime(2030, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)),
        (1_893_553_445, datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (1_893_553_445.5, datetime(2030, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        ("1893553445", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("in ten minutes", None),
        ("", None),
        (None, None),
        (True, None),
        (10**20, None),
        (float("nan"), None),
        ({"at": 1}, None),
    ],
)
def test_expires_at_becomes_an_aware_utc_time(
    expires_at: object, expected: datetime | None
) -> None:
    body = {"status": "success", "reference_key": "rk_1", "expires_at": expires_at}
    outcome = interpret(REFERENCE, reply(200, body))
    assert outcome == ReferenceIssued("rk_1", expected)
    assert isinstance(outcome, ReferenceIssued)
    assert outcome.expires_at is None or outcome.expires_at.tzinfo is UTC


def test_a_reference_nested_under_data() -> None:
    body = {"data": {"reference_key": "rk_2", "expires_at": "2030-01-02T03:04:05Z"}}
    outcome = interpret(REFERENCE, reply(201, body))
    assert outcome == ReferenceIssued("rk_2", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert "rk_2" not in repr(outcome)


@pytest.mark.parametrize("key", [None, "", "rk 1", "rk\n1", "k" * 513, 12345, ["rk_1"]])
def test_a_reference_without_a_usable_key_is_the_provider_being_down(key: object) -> None:
    outcome = failed(REFERENCE, 200, {"status": "success", "reference_key": key})
    assert outcome == DigiLockerFailure(F.PROVIDER_DOWN, "http 200: without a usable reference_key")


DOCS_3001 = "documents_for_consent rejected (3001): check providers.idto.documents_for_consent"
REDIRECT_3002 = "redirect URL missing or refused (3002)"


@pytest.mark.parametrize("endpoint", [INITIATE, REFERENCE])
@pytest.mark.parametrize(
    ("status", "body", "failure", "detail"),
    [
        (400, {"code": 3001, "message": "Invalid document codes"}, F.MISCONFIGURED, DOCS_3001),
        (400, {"error_code": "3001"}, F.MISCONFIGURED, DOCS_3001),
        (400, {"detail": {"code": 3001, "message": "bad"}}, F.MISCONFIGURED, DOCS_3001),
        (422, {"detail": {"error_code": 3001}}, F.MISCONFIGURED, DOCS_3001),
        (200, {"status": "error", "code": 3001}, F.MISCONFIGURED, DOCS_3001),
        (400, {"status": "error", "code": 3002}, F.MISCONFIGURED, REDIRECT_3002),
        (400, {"error": {"code": "3002"}}, F.MISCONFIGURED, REDIRECT_3002),
        (400, {"data": {"code": 3002}}, F.MISCONFIGURED, REDIRECT_3002),
        (401, {"detail": AUTH_REQUIRED}, F.MISCONFIGURED, PAIR_REJECTED),
        (401, None, F.MISCONFIGURED, PAIR_REJECTED),
        (401, {"detail": "Invalid API key: code 17 expired"}, F.MISCONFIGURED, PAIR_REJECTED),
        (403, {"detail": "Forbidden"}, F.MISCONFIGURED, "IDTO refused this app"),
        (404, {"detail": "Not Found"}, F.MISCONFIGURED, "check KYCBOT_PROVIDERS__IDTO__BASE_URL"),
        (302, None, F.MISCONFIGURED, "request refused, not a JSON object"),
        (405, {"detail": "Method Not Allowed"}, F.MISCONFIGURED, "request refused"),
        (429, {"detail": "slow down"}, F.RATE_LIMITED, "too many requests"),
        (408, None, F.PROVIDER_DOWN, "http 408: not a JSON object"),
        (500, {"status": "error"}, F.PROVIDER_DOWN, "http 500"),
        (502, None, F.PROVIDER_DOWN, "http 502: not a JSON object"),
        (503, {"code": 3001}, F.PROVIDER_DOWN, "http 503"),
        (200, None, F.PROVIDER_DOWN, "http 200: not a JSON object"),
        (200, {"status": "error", "message": "?"}, F.PROVIDER_DOWN, "http 200: answer says error"),
        (200, {"success": False}, F.PROVIDER_DOWN, "http 200: answer says error"),
    ],
)
def test_error_answers(
    endpoint: Endpoint, status: int, body: dict[str, object] | None, failure: F, detail: str
) -> None:
    outcome = failed(endpoint, status, body)
    assert outcome.failure is failure
    assert outcome.detail.startswith(f"http {status}")
    assert detail in outcome.detail


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"status": "error", "message": "Invalid authorization code"}),
        (400, {"message": "Authorization code already used"}),
        (400, {"error": "invalid_grant", "error_description": "bad"}),
        (400, {"detail": "code_verifier does not match code_challenge"}),
        (401, {"detail": {"message": "The code has expired"}}),
        (404, {"error_code": "INVALID_CODE"}),
        (200, {"status": "error", "message": "Invalid code"}),
    ],
)
def test_a_spent_code_ends_the_digilocker_session(status: int, body: dict[str, object]) -> None:
    outcome = failed(REFERENCE, status, body)
    detail = f"http {status}: code invalid, expired or already used"
    assert outcome == DigiLockerFailure(F.SESSION_INVALID, detail)


@pytest.mark.parametrize(
    ("endpoint", "status", "body", "failure"),
    [
        # On initiate there is no code yet: words about one are our request being wrong.
        (INITIATE, 400, {"message": "Invalid code_challenge"}, F.MISCONFIGURED),
        (REFERENCE, 403, {"message": "Invalid code"}, F.MISCONFIGURED),
        (REFERENCE, 400, {"message": "user_id is required"}, F.MISCONFIGURED),
        (REFERENCE, 500, {"message": "Invalid code"}, F.PROVIDER_DOWN),
        (REFERENCE, 401, {"detail": AUTH_REQUIRED}, F.MISCONFIGURED),
    ],
)
def test_words_about_a_code_count_only_where_a_code_can_be_spent(
    endpoint: Endpoint, status: int, body: dict[str, object], failure: F
) -> None:
    assert failed(endpoint, status, body).failure is failure


@pytest.mark.parametrize("endpoint", [INITIATE, REFERENCE])
@pytest.mark.parametrize("reason", list(NoAnswer))
def test_no_answer_is_the_provider_being_down(endpoint: Endpoint, reason: NoAnswer) -> None:
    outcome = interpret(endpoint, Unanswered(reason, 20_000))
    assert outcome == DigiLockerFailure(F.PROVIDER_DOWN, f"no answer: {reason.value}")


SECRET_WORDS = "XYZZY-leak"
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.sampled_from([SECRET_WORDS, "3001", "https://x.example", "invalid code", "error"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["url", "data", "code", "detail", "status", "message", "reference_key"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(
    endpoint=st.sampled_from(list(Endpoint)),
    status=st.integers(100, 599),
    body=st.dictionaries(
        st.sampled_from(["url", "data", "code", "error_code", "detail", "status", "message"]),
        json_values,
        max_size=5,
    )
    | st.none(),
)
def test_any_answer_is_mapped_and_no_detail_repeats_the_body(
    endpoint: Endpoint, status: int, body: dict[str, object] | None
) -> None:
    outcome = interpret(endpoint, reply(status, body))
    if isinstance(outcome, DigiLockerFailure):
        assert SECRET_WORDS not in outcome.detail
        assert outcome.detail.startswith(f"http {status}")
    else:
        assert 200 <= status < 300
