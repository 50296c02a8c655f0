"""Deadline notices through the outbox (storage.outbox): the message as JSON, and sending it.

The runner stores a deadline step's rendered replies with the step and sends them right
after; `deliver_leftovers` (run by the sweeper) sends those a killed process left behind.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection

from bot.channel import Channel
from bot.render import Message, RenderedButton, RenderedLink, Renderer
from flows import ButtonAction, Effect, Reply
from storage import Database, Loaded, UserKey
from storage.outbox import add_notices, claim_leftover_notices, mark_delivered

__all__ = [
    "Notice",
    "deliver",
    "deliver_leftovers",
    "message_from_json",
    "message_to_json",
    "store_notices",
]

Notice = tuple[int, Message]  # an outbox row's id and the message it holds

log = logging.getLogger(__name__)


def message_to_json(message: Message) -> str:
    """The message as stored in the outbox (rendered text: masked data only)."""
    return json.dumps(
        {
            "text": message.text,
            "buttons": [[button.action.value, button.label] for button in message.buttons],
            "input_placeholder": message.input_placeholder,
            "protect_content": message.protect_content,
            "step": message.step,
            "links": [[link.label, link.url] for link in message.links],
        },
        ensure_ascii=False,
    )


def message_from_json(stored: str) -> Message:
    """The message `message_to_json` stored."""
    fields = json.loads(stored)
    return Message(
        text=fields["text"],
        buttons=tuple(
            RenderedButton(ButtonAction(action), label) for action, label in fields["buttons"]
        ),
        input_placeholder=fields["input_placeholder"],
        protect_content=fields["protect_content"],
        step=fields["step"],
        links=tuple(RenderedLink(label, url) for label, url in fields["links"]),
    )


def store_notices(
    connection: Connection,
    *,
    user: UserKey,
    saved: Loaded,
    effects: Iterable[Effect],
    renderer: Renderer,
    now: datetime,
) -> tuple[Notice, ...]:
    """Render the replies of a stored deadline step and add them to the outbox, in its transaction.

    They are rendered as the runner would send them (`saved` is the step as stored), so
    whoever delivers them later needs neither the step nor the settings of that moment.
    """
    messages = [
        replace(renderer.render(effect, saved.language), step=saved.step)
        for effect in effects
        if isinstance(effect, Reply)
    ]
    if not messages:
        return ()
    ids = add_notices(
        connection,
        user=user,
        user_id=saved.user_id,
        messages=[message_to_json(message) for message in messages],
        now=now,
    )
    return tuple(zip(ids, messages, strict=True))


async def deliver(
    database: Database, channel: Channel, notice_id: int, message: Message, now: datetime
) -> None:
    """Send one notice and mark it delivered at once, keeping the resend-after-crash window short.

    A failed send raises and leaves the notice claimed: a sweeper sends it again later.
    """
    await channel.send(message)
    await database.run(functools.partial(mark_delivered, notice_id=notice_id, now=now))


async def deliver_leftovers(
    database: Database,
    *,
    channel: str,
    channel_for: Callable[[UserKey], Channel],
    clock: Callable[[], datetime],
    limit: int = 100,
) -> int:
    """Claim and send the notices of `channel` a dead process (or a failed send) left; how many.

    A notice that fails again stays claimed and is tried on a later sweep, up to
    storage.outbox.MAX_ATTEMPTS times.
    """
    claimed = await database.run(
        functools.partial(claim_leftover_notices, channel=channel, now=clock(), limit=limit)
    )
    sent = 0
    for notice in claimed:
        try:
            message = message_from_json(notice.message)
            await deliver(database, channel_for(notice.user), notice.id, message, clock())
        except Exception as error:
            # The class only: a message of a send error may quote the text.
            log.error("outbox notice %d not delivered: %s", notice.id, type(error).__name__)
            continue
        sent += 1
    if sent:
        log.info("delivered %d deadline notice(s) an earlier process left unsent", sent)
    return sent
