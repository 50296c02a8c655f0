"""Faults of IDTO's DigiLocker API, injected through the fake IDTO, seen through the real runner.

A DigiLocker call sends nothing to the user's phone, so every fault is simply "try again": the
user is back at the choice of method with a specific message, nothing is stored or counted, and
the next try verifies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.digilocker import Return
from flows import DigiLockerChosen, PromptKey
from storage import Database
from tests.bot.digilocker_chat import Chat, back_from, results
from tests.bot.fault_rigs import ANSWERED_WITHIN, BUSY, DOWN
from tests.fakes import faults as broken
from tests.fakes.idto_server import INITIATE_PATH, REFERENCE_PATH, FakeIdto, Fault
from tests.scenario_tools import say

K = PromptKey
FAULTS = {
    "500": (Fault(status=500), DOWN),
    "502-html": (Fault(status=502, raw=broken.HTML_PAGE, content_type="text/html"), DOWN),
    "503": (Fault(status=503), DOWN),
    "429": (Fault(status=429), BUSY),
    "malformed-json": (Fault(raw=broken.MALFORMED_JSON), DOWN),
    "empty-body": (Fault(raw=broken.EMPTY_BODY), DOWN),
    "wrong-shape": (Fault(raw=broken.WRONG_SHAPE), DOWN),
    "reset": (Fault(reset=True), DOWN),
}


@pytest.fixture
async def chat(database: Database) -> AsyncIterator[Chat]:
    async with FakeIdto() as fake:
        talking = Chat(database, fake)
        try:
            yield talking
        finally:
            await talking.aclose()


# SQLite only: the backends are covered by test_digilocker_runner.py, and the suite has a budget.
@pytest.mark.parametrize("open_database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("path", [INITIATE_PATH, REFERENCE_PATH])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_an_idto_fault_sends_the_user_back_to_the_choice(
    chat: Chat, path: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    injected, told = FAULTS[fault]
    await chat.to_method_question()
    started = time.perf_counter()
    if path == INITIATE_PATH:
        chat.fake.fail_next(replace(injected, path=path))
        shown = (await chat.say(DigiLockerChosen())).text
    else:
        back = back_from(await chat.fake.consent(await chat.link()))
        chat.fake.fail_next(replace(injected, path=path))
        started = time.perf_counter()
        assert await chat.come_back(back) == Return.ACCEPTED
        shown = chat.channel.last
    took = time.perf_counter() - started

    assert told in shown
    assert say(K.METHOD_QUESTION) in shown
    assert took < ANSWERED_WITHIN
    assert await results(chat.database) == []

    back = back_from(await chat.fake.consent(await chat.link()))
    assert await chat.come_back(back) == Return.ACCEPTED
    assert say(K.DIGILOCKER_VERIFIED) in chat.channel.last
    for secret in (chat.fake.api_key, chat.fake.client_id):
        assert secret not in caplog.text
