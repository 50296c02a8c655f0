"""The console in a real browser: signing in, filtering, a timeline and the funnel chart."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.bot.test_support_cli import VERIFIED, WRONG_OTP
from tests.console.conftest import PREFIX, Console, assert_nothing_secret, sign_in
from tests.scenario_tools import masked


def _rows(page: Page) -> list[str]:
    rows = page.locator("#verifications tbody tr[data-verification]")
    return [str(row.get_attribute("data-verification")) for row in rows.all()]


def test_a_wrong_token_is_refused_and_the_right_one_lets_in(page: Page, console: Console) -> None:
    response = page.goto(f"{console.url}/funnel")
    assert response is not None
    assert response.status == 401
    assert page.locator("h1").inner_text() == "Sign in"
    assert sign_in(page, console, token="guess-guess-guess-guess") == 401
    assert page.locator("#message").inner_text() == "That token is not right."
    assert page.locator("input[name=token]").input_value() == ""
    assert sign_in(page, console) == 200
    # Back where the browser was going, signed in.
    assert page.url == f"{console.url}/funnel"
    assert page.locator("h1").inner_text() == "Funnel"
    cookie = page.context.cookies()[0]
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    page.click("text=Sign out")
    assert page.locator("#message").inner_text() == "You are signed out."
    response = page.goto(f"{console.url}/")
    assert response is not None
    assert response.status == 401


def test_the_filters_narrow_the_rows_and_stay_in_the_address(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/")
    sign_in(page, console)
    assert len(_rows(page)) == 6
    page.select_option("select[name=state]", "verified")
    with page.expect_navigation():
        page.click("#filters button[type=submit]")
    assert "state=verified" in page.url
    assert len(_rows(page)) == 3
    assert set(page.locator("#verifications td.state").all_inner_texts()) == {"verified"}
    page.fill("input[name=since]", "24h")
    with page.expect_navigation():
        page.click("#filters button[type=submit]")
    assert len(_rows(page)) == 2
    # The address is the filter: opened again, it shows the same rows.
    bookmarked = page.url
    page.goto(f"{console.url}/")
    assert len(_rows(page)) == 6
    page.goto(bookmarked)
    assert len(_rows(page)) == 2
    assert page.locator("select[name=state]").input_value() == "verified"


def test_a_timeline_shows_its_events_and_the_masked_number(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/?user=telegram:{WRONG_OTP}")
    sign_in(page, console)
    [verification] = _rows(page)
    with page.expect_navigation():
        page.click(f"a[href='{PREFIX}/verifications/{verification}']")
    assert page.locator("h1").inner_text() == f"Verification v{verification}"
    assert page.locator("#state").inner_text() == "await_otp"
    assert page.locator("#number").inner_text() == masked(console.store.numbers[2])
    outcomes = page.locator("#events td.outcome").all_inner_texts()
    assert outcomes[:4] == ["started", "consent_given", "number_accepted", "otp_requested"]
    assert outcomes.count("wrong_otp") == 2
    assert_nothing_secret(console.store, page.content())


def test_a_verified_timeline_shows_the_result_masked(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/?user=telegram:{VERIFIED[0]}")
    sign_in(page, console)
    [verification] = _rows(page)
    page.goto(f"{console.url}/verifications/{verification}")
    # The finished verification forgot even the masked number; its result keeps it.
    assert page.locator("#number").inner_text() == "-"
    assert masked(console.store.numbers[0]) in page.locator("#results").inner_text()
    assert page.locator("#events td.outcome").all_inner_texts()[-1] == "verified"


def test_the_funnel_chart_renders_with_the_right_counts(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/funnel")
    sign_in(page, console)
    funnel = page.locator("svg#funnel")
    assert funnel.locator("> title").text_content() == "Verification funnel"
    bars = funnel.locator("g.bar")
    labels = bars.evaluate_all("bars => bars.map(bar => bar.dataset.label)")
    values = bars.evaluate_all("bars => bars.map(bar => Number(bar.dataset.value))")
    assert labels == ["started", "consented", "number accepted", "OTP sent", "verified"]
    assert values == [5, 5, 4, 3, 2]
    assert bars.nth(2).locator("text.value").text_content() == "4 (80%)"
    assert bars.nth(4).locator("title").text_content() == "verified: 2 (40%)"
    # Drawn, not just present: the bars have sizes on screen, in proportion.
    widths = [bars.nth(i).locator("rect").bounding_box() for i in range(5)]
    assert all(box is not None for box in widths)
    drawn = [box["width"] for box in widths if box is not None]
    assert drawn[0] == drawn[1] > drawn[2] > drawn[3] > drawn[4] > 0
    assert drawn[4] / drawn[0] == pytest.approx(2 / 5, abs=0.01)
    failures = page.locator("svg#failures g.bar")
    counted = dict(
        zip(
            failures.evaluate_all("bars => bars.map(bar => bar.dataset.label)"),
            failures.evaluate_all("bars => bars.map(bar => Number(bar.dataset.value))"),
            strict=True,
        )
    )
    assert counted["wrong_otp"] == 2
    assert counted["provider_down"] == 1
    assert page.locator("#providers tbody td").first.inner_text() == "simulator"
    # The stylesheet is allowed by its hash: the header is styled, nothing was blocked.
    background = page.locator("header").evaluate("h => getComputedStyle(h).backgroundColor")
    assert background == "rgb(31, 58, 95)"
