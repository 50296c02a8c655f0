"""The console's verification list query on every storage backend, over flows the Runner played."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from flows import ConsentGiven, NumberConfirmed, StartRequested, TextSent
from storage import Database
from storage.verification_list import VerificationFilter, VerificationPage, list_verifications
from tests.bot.test_support_cli import _play, _runner
from tests.scenario_tools import masked, synthetic_number


async def _listed(
    database: Database, wanted: VerificationFilter, *, offset: int = 0, limit: int = 10
) -> VerificationPage:
    return await database.run(
        functools.partial(list_verifications, wanted=wanted, offset=offset, limit=limit)
    )


async def test_filters_and_pages_of_verifications(database: Database) -> None:
    runner = _runner(database, [], lambda: datetime.now(UTC))
    number = synthetic_number()
    await _play(
        runner, "501", [StartRequested(), ConsentGiven(), TextSent(number), NumberConfirmed()]
    )
    await _play(runner, "502", [StartRequested(), ConsentGiven()])
    await _play(runner, "503", [StartRequested()])
    everything = await _listed(database, VerificationFilter())
    assert [row.external_id for row in everything.rows] == ["503", "502", "501"]
    assert (everything.total, everything.has_next) == (3, False)
    first = everything.rows[-1]
    assert (first.user, first.state, first.method) == ("telegram:501", "await_otp", "aadhaar_otp")
    assert first.aadhaar_masked == masked(number)
    assert everything.rows[0].method is None  # no method before the number
    assert number not in repr(everything)

    async def ids(wanted: VerificationFilter) -> list[str]:
        return [row.external_id for row in (await _listed(database, wanted)).rows]

    assert await ids(VerificationFilter(state="await_otp")) == ["501"]
    assert await ids(VerificationFilter(method="aadhaar_otp")) == ["501"]
    assert await ids(VerificationFilter(provider="simulator")) == ["503", "502", "501"]
    assert await ids(VerificationFilter(provider="sandbox")) == []
    assert await ids(VerificationFilter(user="502")) == ["502"]
    assert await ids(VerificationFilter(user="telegram:503")) == ["503"]
    assert await ids(VerificationFilter(user="chat:503")) == []
    assert await ids(VerificationFilter(since=datetime.now(UTC) - timedelta(hours=1))) == [
        "503",
        "502",
        "501",
    ]
    assert await ids(VerificationFilter(since=datetime.now(UTC) + timedelta(hours=1))) == []
    second = await _listed(database, VerificationFilter(), offset=1, limit=1)
    assert [row.external_id for row in second.rows] == ["502"]
    assert (second.total, second.has_next) == (3, True)
