"""The console over plain HTTP: the sign-in gate, headers, refusals and the privacy scan."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from bot.config import ConfigError, load_settings
from bot.console import COOKIE
from tests.bot.test_support_cli import KEYS, VERIFIED, WRONG_OTP, Store
from tests.console.conftest import (
    PREFIX,
    TOKEN,
    Console,
    assert_nothing_secret,
    serve,
    settings_for,
)
from tests.scenario_tools import masked, spaced

PAGES = ("/", "/verifications/1", "/funnel", "/live", "/sign-in", "/no-such-page")
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
}


def _verification_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-verification="(\d+)"', page)]


def _assert_secure_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src" not in policy  # no script at all: default-src 'none' covers it
    assert "unsafe-inline" not in policy


@pytest.mark.parametrize("path", PAGES)
def test_every_console_page_is_401_without_a_session(console: Console, path: str) -> None:
    forged = f"9999999999.nonce.{'A' * 43}"
    for cookies in ({}, {COOKIE: forged}, {COOKIE: "garbage"}):
        with httpx.Client(cookies=cookies) as client:
            response = client.get(console.url + path)
        assert response.status_code == 401, (path, cookies)
        assert 'action="/console/sign-in"' in response.text
        assert 'name="token"' in response.text
        assert "Sign out" not in response.text
        _assert_secure_headers(response)


def test_without_a_token_the_console_is_not_there(store: Store) -> None:
    settings = settings_for(store, KYCBOT_CONSOLE__TOKEN="")
    assert not settings.console.enabled
    with serve(settings) as origin, httpx.Client(base_url=origin) as client:
        assert client.get("/healthz").status_code == 200
        for path in PAGES:
            assert client.get(PREFIX + path).status_code == 404, path
        refused = client.post(f"{PREFIX}/sign-in", data={"token": TOKEN})
        assert refused.status_code == 404


def test_a_short_token_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, KEYS | {"KYCBOT_CONSOLE__TOKEN": "short-token"})
    message = str(caught.value)
    assert message.startswith("console.token: ")
    assert "KYCBOT_CONSOLE__TOKEN" in message
    assert "short-token" not in message


def test_signing_in_sets_a_strict_cookie_and_opens_every_page(console: Console) -> None:
    with httpx.Client(base_url=console.origin) as client:
        response = client.post(
            f"{PREFIX}/sign-in",
            data={"token": TOKEN, "after": f"{PREFIX}/funnel"},
            headers={"Origin": console.origin},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"{PREFIX}/funnel"
        cookie = response.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=strict", f"Path={PREFIX}", "Max-Age=28800"):
            assert attribute.lower() in cookie.lower(), attribute
        assert "secure" not in cookie.lower()  # plain http on loopback
        assert TOKEN not in cookie
        for path in ("/", "/verifications/1", "/funnel", "/live"):
            page = client.get(PREFIX + path)
            assert page.status_code == 200, path
            assert "Sign out" in page.text
            _assert_secure_headers(page)


def test_a_sign_in_never_sends_the_browser_elsewhere(console: Console) -> None:
    with httpx.Client(base_url=console.origin) as client:
        for after in ("https://evil.example/", "//evil.example/", "/healthz"):
            response = client.post(
                f"{PREFIX}/sign-in",
                data={"token": TOKEN, "after": after},
                headers={"Origin": console.origin},
            )
            assert response.headers["location"] == f"{PREFIX}/", after


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1"},
    ],
)
def test_posts_from_elsewhere_are_refused(console: Console, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=console.origin) as client:
        response = client.post(f"{PREFIX}/sign-in", data={"token": TOKEN}, headers=headers)
        assert response.status_code == 403
        assert COOKIE not in response.headers.get("set-cookie", "")
        _assert_secure_headers(response)
    with console.signed_in() as client:
        response = client.post(f"{PREFIX}/sign-out", headers=headers)
        assert response.status_code == 403
        assert client.get(f"{PREFIX}/").status_code == 200  # still signed in


def test_signing_out_ends_the_session(console: Console) -> None:
    with console.signed_in() as client:
        cookie = client.cookies[COOKIE]
        response = client.post(f"{PREFIX}/sign-out", headers={"Origin": console.origin})
        assert response.status_code == 401
        assert "You are signed out." in response.text
    with httpx.Client(base_url=console.origin, cookies={COOKIE: cookie}) as replay:
        assert replay.get(f"{PREFIX}/").status_code == 401


def test_wrong_tokens_are_logged_without_the_token_and_then_slowed_down(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-console-token-42"
    caplog.set_level(logging.WARNING, logger="bot.console")
    with serve(settings_for(store)) as origin, httpx.Client(base_url=origin) as client:
        for _ in range(5):
            response = client.post(
                f"{PREFIX}/sign-in", data={"token": wrong}, headers={"Origin": origin}
            )
            assert response.status_code == 401
            assert "That token is not right." in response.text
        # Even the right token waits now: guessing is what is being slowed down.
        response = client.post(
            f"{PREFIX}/sign-in", data={"token": TOKEN}, headers={"Origin": origin}
        )
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        assert "Too many wrong tokens" in response.text
    refused = [r for r in caplog.records if r.name.startswith("bot.console")]
    assert [r.levelno for r in refused].count(logging.WARNING) == 6
    for record in refused:
        assert wrong not in record.getMessage()
        assert TOKEN not in record.getMessage()


def test_filters_narrow_the_list(console: Console) -> None:
    with console.signed_in() as client:
        everything = _verification_ids(client.get(f"{PREFIX}/").text)
        assert len(everything) == 6
        assert everything == sorted(everything, reverse=True)
        verified = client.get(f"{PREFIX}/", params={"state": "verified"}).text
        assert len(_verification_ids(verified)) == 3
        recent = client.get(f"{PREFIX}/", params={"state": "verified", "since": "24h"}).text
        assert len(_verification_ids(recent)) == 2
        one = client.get(f"{PREFIX}/", params={"user": f"telegram:{WRONG_OTP}"}).text
        assert len(_verification_ids(one)) == 1
        assert 'class="state">await_otp<' in one
        assert masked(console.store.numbers[2]) in one
        by_method = client.get(f"{PREFIX}/", params={"method": "aadhaar_otp"}).text
        assert len(_verification_ids(by_method)) == 5  # all but the one abandoned at consent
        nobody = client.get(f"{PREFIX}/", params={"provider": "sandbox"}).text
        assert _verification_ids(nobody) == []
        assert "No verification matches these filters." in nobody
        assert _verification_ids(client.get(f"{PREFIX}/", params={"page": "2"}).text) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "3w"}, "bad since &#39;3w&#39;: use 30m, 24h or 7d"),
        ({"state": "nonsense"}, "unknown state &#39;nonsense&#39;"),
        ({"page": "0"}, "bad page &#39;0&#39;"),
        ({"user": "x" * 65}, "user: at most 64 characters"),
    ],
)
def test_a_bad_filter_is_a_400_that_says_why(
    console: Console, params: dict[str, str], message: str
) -> None:
    with console.signed_in() as client:
        response = client.get(f"{PREFIX}/", params=params)
        assert response.status_code == 400
        assert message in response.text


def test_a_pasted_aadhaar_number_is_refused_and_not_echoed(console: Console) -> None:
    number = console.store.numbers[0]
    with console.signed_in() as client:
        for path in ("/", "/live"):
            for spelling in (number, spaced(number)):
                response = client.get(PREFIX + path, params={"user": spelling})
                assert response.status_code == 400
                assert "looks like an Aadhaar number" in response.text
                assert_nothing_secret(console.store, response.text)


def test_an_unknown_verification_is_a_404_page(console: Console) -> None:
    with console.signed_in() as client:
        response = client.get(f"{PREFIX}/verifications/999999")
        assert response.status_code == 404
        assert "There is no verification 999999." in response.text
        assert client.get(f"{PREFIX}/no-such-page").status_code == 404


def test_no_page_shows_a_full_number_or_an_otp(console: Console) -> None:
    with console.signed_in() as client:
        listing = client.get(f"{PREFIX}/", params={"since": "7d"}).text
        pages = [listing]
        for verification_id in _verification_ids(listing):
            shown = client.get(f"{PREFIX}/verifications/{verification_id}")
            assert shown.status_code == 200
            pages.append(shown.text)
        for path in ("/funnel", "/live"):
            pages.append(client.get(PREFIX + path, params={"since": "7d"}).text)
    for page in pages:
        assert_nothing_secret(console.store, page)
    everything = "".join(pages)
    # The masked numbers are what support sees instead.
    assert masked(console.store.numbers[0]) in everything
    assert masked(console.store.numbers[2]) in everything
    assert f"telegram:{VERIFIED[0]}" in everything
