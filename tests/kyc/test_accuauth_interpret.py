"""`interpret`, AccuAuth's one mapping from a wire answer to an event, without any I/O."""

from __future__ import annotations

from datetime import date
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows import KycData, KycVerified, OtpNotSent, OtpNotVerified, OtpSent, ProviderFailure
from kyc.accuauth_answers import Endpoint, interpret
from kyc.wire import NoAnswer, Unanswered, WireReply

F = ProviderFailure
SEND: Final = Endpoint.SEND_OTP
VALIDATE: Final = Endpoint.VALIDATE_OTP


def ok(result: object, status: int = 200) -> WireReply:
    return WireReply(status, {"request_id": "TID1", "result": result, "status": "OK"}, 3)


def error(status: int, code: str, reason: str = "some reason") -> WireReply:
    return WireReply(status, {"status": code, "reason": reason, "request_id": "TID1"}, 3)


def verified(result: dict[str, object]) -> KycData:
    event = interpret(VALIDATE, ok({"full_name": "Asha Verma", **result}))
    assert isinstance(event, KycVerified)
    return event.data


def test_a_sent_otp_carries_the_client_id() -> None:
    answer = ok({"client_id": "aadhaar_v2_abc", "otp_sent": True, "if_number": True})
    assert interpret(SEND, answer) == OtpSent("aadhaar_v2_abc")


@pytest.mark.parametrize(
    ("result", "failure", "detail"),
    [
        ({"otp_sent": False, "valid_aadhaar": False}, F.INVALID_AADHAAR, "valid_aadhaar false"),
        ({"otp_sent": False, "if_number": False}, F.NO_MOBILE_LINKED, "if_number false"),
        ({"otp_sent": False, "if_number": True}, F.PROVIDER_DOWN, "otp_sent not true"),
        ({"client_id": "c1"}, F.PROVIDER_DOWN, "otp_sent not true"),
        ({"otp_sent": "true", "client_id": "c1"}, F.PROVIDER_DOWN, "otp_sent not true"),
        # An SMS went out that can never be checked: treated like an unanswered send.
        ({"otp_sent": True}, F.UNCERTAIN, "without a usable client_id"),
        ({"otp_sent": True, "client_id": ""}, F.UNCERTAIN, "without a usable client_id"),
        ({"otp_sent": True, "client_id": "c" * 129}, F.UNCERTAIN, "without a usable client_id"),
        ({"otp_sent": True, "client_id": 42}, F.UNCERTAIN, "without a usable client_id"),
    ],
)
def test_an_ok_send_without_an_otp(result: object, failure: F, detail: str) -> None:
    event = interpret(SEND, ok(result))
    assert isinstance(event, OtpNotSent)
    assert (event.failure, event.retry_after_seconds) == (failure, None)
    assert detail in event.detail


ERRORS_ON_BOTH = [
    (400, "ABNORMAL_BEHAVIOURS_DETECTED", F.RATE_LIMITED),
    (403, "RATE_LIMIT_EXCEEDED", F.RATE_LIMITED),
    (401, "UNAUTHORIZED", F.MISCONFIGURED),
    (401, "KEY_EXPIRED", F.MISCONFIGURED),
    (403, "NO_PERMISSION", F.MISCONFIGURED),
    (404, "NOT_FOUND", F.MISCONFIGURED),
    (403, "OUT_OF_QUOTA", F.OUT_OF_QUOTA),
    (500, "INTERNAL_ERROR", F.PROVIDER_DOWN),
    (512, "SOURCE_SERVICE_UNAVAILABLE", F.PROVIDER_DOWN),
    (513, "SOURCE_SERVICE_TIMEOUT", F.PROVIDER_DOWN),
    (400, "DETECTION_FAILED", F.PROVIDER_DOWN),
    (400, "DOWNLOAD_ERROR", F.PROVIDER_DOWN),
    (502, "BAD_GATEWAY", F.PROVIDER_DOWN),
    (503, "SERVICE_UNAVAILABLE", F.PROVIDER_DOWN),
    (429, "TOO_MANY_REQUESTS", F.RATE_LIMITED),
    (418, "SOMETHING_NEW", F.PROVIDER_DOWN),
]


@pytest.mark.parametrize(("status", "code", "failure"), ERRORS_ON_BOTH)
@pytest.mark.parametrize("endpoint", [SEND, VALIDATE])
def test_documented_error_codes(endpoint: Endpoint, status: int, code: str, failure: F) -> None:
    event = interpret(endpoint, error(status, code, reason="invalid aadhaar_no 234567890124"))
    assert isinstance(event, OtpNotSent if endpoint is SEND else OtpNotVerified)
    assert event.failure is failure
    assert event.detail.startswith(f"http {status} {code}")
    assert "234567890124" not in event.detail  # the reason is never repeated


def test_misconfigured_names_the_setting_to_check() -> None:
    unauthorised = interpret(SEND, error(401, "UNAUTHORIZED"))
    assert isinstance(unauthorised, OtpNotSent)
    assert "credentials rejected" in unauthorised.detail
    assert "KYCBOT_PROVIDERS__ACCUAUTH__API_ID / API_SECRET" in unauthorised.detail
    not_found = interpret(VALIDATE, error(404, "NOT_FOUND"))
    assert isinstance(not_found, OtpNotVerified)
    assert "KYCBOT_PROVIDERS__ACCUAUTH__BASE_URL" in not_found.detail


def test_an_invalid_argument_on_send_is_an_invalid_number() -> None:
    event = interpret(SEND, error(400, "INVALID_ARGUMENT", "invalid aadhaar_no"))
    assert event == OtpNotSent(F.INVALID_AADHAAR, detail="http 400 INVALID_ARGUMENT")


@pytest.mark.parametrize(
    ("reason", "failure"),
    [
        ("OTP has expired, generate a new one", F.OTP_EXPIRED),
        ("otp expire", F.OTP_EXPIRED),
        ("Session EXPIRED", F.OTP_EXPIRED),
        ("client_id already used", F.SESSION_INVALID),
        ("invalid client_id", F.SESSION_INVALID),
        ("Client ID not found", F.SESSION_INVALID),
        ("OTP already verified", F.SESSION_INVALID),
        ("Invalid OTP", F.WRONG_OTP),
        ("invalid otp_code", F.WRONG_OTP),
        ("", F.WRONG_OTP),
        (None, F.WRONG_OTP),
        (["expired"], F.WRONG_OTP),
    ],
)
def test_an_invalid_argument_on_validate_is_read_from_the_reason(
    reason: object, failure: F
) -> None:
    answer = WireReply(400, {"status": "INVALID_ARGUMENT", "reason": reason}, 3)
    event = interpret(VALIDATE, answer)
    assert isinstance(event, OtpNotVerified)
    assert event.failure is failure
    assert event.detail.startswith("http 400 INVALID_ARGUMENT")
    assert not isinstance(reason, str) or not reason or reason not in event.detail


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (WireReply(200, None, 3), "http 200 not a JSON object"),  # malformed JSON, a list
        (WireReply(502, None, 3), "http 502 not a JSON object"),  # an HTML gateway page
        (WireReply(200, {}, 3), "http 200 unrecognised status"),
        (WireReply(200, {"status": "OK"}, 3), "http 200 OK without result"),
        (WireReply(200, {"status": "OK", "result": [1]}, 3), "http 200 OK without result"),
        (WireReply(200, {"status": "ok", "result": {}}, 3), "http 200 unrecognised status"),
        (WireReply(200, {"status": "<b>x</b>"}, 3), "http 200 unrecognised status"),
        (WireReply(400, {"status": "OK", "result": {}}, 3), "http 400 OK"),
        (WireReply(302, None, 3), "http 302 not a JSON object"),
    ],
)
@pytest.mark.parametrize("endpoint", [SEND, VALIDATE])
def test_unexpected_shapes_are_the_provider_being_down(
    endpoint: Endpoint, answer: WireReply, detail: str
) -> None:
    event = interpret(endpoint, answer)
    assert isinstance(event, OtpNotSent | OtpNotVerified)
    # A success status that cannot be read may have sent the SMS: never a free retry.
    unread = endpoint is SEND and 200 <= answer.status < 300
    failure = F.UNCERTAIN if unread else F.PROVIDER_DOWN
    assert (event.failure, event.detail) == (failure, detail)


@pytest.mark.parametrize(
    ("status", "failure", "setting"),
    [
        (401, F.MISCONFIGURED, "API_SECRET"),
        (404, F.MISCONFIGURED, "BASE_URL"),
        (429, F.RATE_LIMITED, ""),
    ],
)
def test_a_bare_http_status_without_a_code(status: int, failure: F, setting: str) -> None:
    event = interpret(SEND, WireReply(status, None, 3))
    assert isinstance(event, OtpNotSent)
    assert event.failure is failure
    assert setting in event.detail


@pytest.mark.parametrize(
    ("reason", "on_send", "on_validate"),
    [
        (NoAnswer.TIMEOUT, F.UNCERTAIN, F.PROVIDER_DOWN),
        (NoAnswer.BROKEN, F.UNCERTAIN, F.PROVIDER_DOWN),
        (NoAnswer.CONNECT_FAILED, F.PROVIDER_DOWN, F.PROVIDER_DOWN),
    ],
)
def test_no_answer(reason: NoAnswer, on_send: F, on_validate: F) -> None:
    sent = interpret(SEND, Unanswered(reason, 200))
    checked = interpret(VALIDATE, Unanswered(reason, 200))
    assert sent == OtpNotSent(on_send, detail=f"no answer: {reason.value}")
    assert checked == OtpNotVerified(on_validate, detail=f"no answer: {reason.value}")


def test_the_kept_ekyc_fields() -> None:
    data = verified(
        {
            "dob": "1990-04-21",
            "gender": "F",
            "address": "  12 MG Road,\n Bengaluru  ",
            "state": "Karnataka",
            "aadhaar_number": "234567890124",
            "profile_image": "/9j/4AAQSkZJRg==",
        }
    )
    assert data == KycData(
        name="Asha Verma",
        date_of_birth=date(1990, 4, 21),
        year_of_birth=1990,
        gender="F",
        address="12 MG Road, Bengaluru",
        state="Karnataka",
    )


@pytest.mark.parametrize(
    ("dob", "born", "year"),
    [
        ("1990-04-21", date(1990, 4, 21), 1990),
        ("21-04-1990", date(1990, 4, 21), 1990),
        ("21/04/1990", date(1990, 4, 21), 1990),
        ("1990", None, 1990),
        ("21.04.1990", None, None),
        ("31-02-1990", None, None),
        ("yesterday", None, None),
        ("", None, None),
        (19900421, None, None),
        (None, None, None),
    ],
)
def test_the_date_of_birth(dob: object, born: date | None, year: int | None) -> None:
    data = verified({"dob": dob})
    assert (data.date_of_birth, data.year_of_birth) == (born, year)


def test_an_address_object_becomes_one_line() -> None:
    address = {
        "house": "12",
        "street": "MG Road",
        "landmark": "",
        "loc": "Shanthala Nagar",
        "vtc": "Bengaluru",
        "po": None,
        "dist": "BENGALURU",  # said once
        "state": "Karnataka",
        "country": "India",
    }
    data = verified({"address": address, "zip": 560001, "care_of": "W/O Ravi Verma"})
    expected = "12, MG Road, Shanthala Nagar, Bengaluru, Karnataka, 560001, India"
    assert data.address == expected
    assert data.state == "Karnataka"  # from the address when the top level has none
    with_pc = verified({"address": {**address, "pc": "560002"}, "zip": "560001"})
    assert with_pc.address == expected.replace("560001", "560002")


@pytest.mark.parametrize(
    ("gender", "kept"),
    [("M", "M"), ("male", "M"), ("FEMALE", "F"), ("f", "F"), ("T", "T"), ("x", None), (1, None)],
)
def test_the_gender(gender: object, kept: str | None) -> None:
    assert verified({"gender": gender}).gender == kept


def test_long_fields_are_cut_to_the_stored_size() -> None:
    data = verified({"full_name": "A" * 300, "address": "B" * 900, "state": "C" * 300})
    assert (len(data.name or ""), len(data.address or ""), len(data.state or "")) == (200, 500, 100)


@pytest.mark.parametrize("name", [None, "", "   ", 7, {"first": "Asha"}])
def test_an_ekyc_answer_without_a_name_is_not_a_verification(name: object) -> None:
    event = interpret(VALIDATE, ok({"full_name": name, "dob": "1990-04-21"}))
    assert event == OtpNotVerified(F.PROVIDER_DOWN, detail="http 200 OK without full_name")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=12,
)
KEYS = st.sampled_from(["status", "result", "reason", "request_id", "client_id", "otp_sent"])
BODIES = (
    st.none()
    | st.dictionaries(KEYS | st.text(max_size=5), JSON)
    | st.fixed_dictionaries(
        {"status": st.just("OK"), "result": st.dictionaries(st.text(max_size=12), JSON)}
    )
)


@given(endpoint=st.sampled_from(Endpoint), status=st.integers(100, 599), body=BODIES)
def test_any_answer_maps_to_an_event_without_raising(
    endpoint: Endpoint, status: int, body: dict[str, object] | None
) -> None:
    event = interpret(endpoint, WireReply(status, body, 1))
    expected = (OtpSent, OtpNotSent) if endpoint is SEND else (KycVerified, OtpNotVerified)
    assert isinstance(event, expected)
