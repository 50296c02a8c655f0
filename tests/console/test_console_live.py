"""The live view in a real browser: it reloads itself and shows an event written after it loaded.

A module of its own: the flow it adds would change the counts the other modules check.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime

from playwright.sync_api import Page

from flows import StartRequested
from storage import Database
from tests.bot.test_support_cli import Store, _play, _runner, _url
from tests.console.conftest import Console, run_apart, sign_in

NEWCOMER = "3001"


async def _newcomer_starts(store: Store) -> None:
    database = Database(_url(store.path))
    try:
        runner = _runner(database, [], lambda: datetime.now(UTC))
        await _play(runner, NEWCOMER, [StartRequested()])
    finally:
        await database.dispose()


def test_the_live_view_shows_the_newest_events_first(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/live")
    sign_in(page, console)
    ids = page.locator("#events tr[data-event]").evaluate_all(
        "rows => rows.map(row => Number(row.dataset.event))"
    )
    with closing(sqlite3.connect(console.store.path)) as connection:
        stored = [row[0] for row in connection.execute("SELECT id FROM flow_event ORDER BY id")]
    # Every event of the scripted flows (fewer than the page's 50), newest first.
    assert 1 < len(stored) < 50
    assert ids == stored[::-1]


def test_the_live_view_reloads_and_shows_a_new_event(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/live?user=telegram:{NEWCOMER}")
    sign_in(page, console)
    assert page.locator("meta[http-equiv=refresh]").get_attribute("content") == "1"
    assert page.locator("#events").inner_text().endswith("No flow events.")
    # Written after the page loaded: only a reload can bring it in.
    run_apart(lambda: _newcomer_starts(console.store))
    started = page.locator("#events td.outcome", has_text="started")
    started.wait_for()
    assert page.locator("#events td.user").all_inner_texts() == [f"telegram:{NEWCOMER}"]
    assert "user=telegram" in page.url  # the reload keeps the filter
