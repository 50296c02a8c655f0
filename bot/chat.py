"""Wiring of `kycbot chat`: runner, sweeper and terminal, with the simulator's SMS on screen."""

from __future__ import annotations

import asyncio
import sys

from bot.app import wired
from bot.config import Settings
from bot.sweeper import Sweeper
from bot.terminal import TerminalChannel, TerminalChat
from kyc import SimulatedSms
from storage import UserKey

__all__ = ["CHANNEL", "run_chat"]

CHANNEL = "terminal"


async def run_chat(settings: Settings, *, user: str) -> None:
    """Chat as `user` until /quit or end of input."""
    channel = TerminalChannel(sys.stdout)

    def show_sms(sms: SimulatedSms) -> None:
        channel.write(f"\n{sms.text()}\n")

    key = UserKey(channel=CHANNEL, external_id=user)
    async with wired(settings, on_sms=show_sms) as wiring:
        sweeper = Sweeper(
            runner=wiring.runner,
            database=wiring.database,
            channel=CHANNEL,
            external_id=user,
            channel_for=lambda _: channel,
            interval_seconds=settings.flow.sweep_interval_seconds,
        )
        sweeping = asyncio.create_task(sweeper.run(), name="sweeper")
        try:
            await TerminalChat(runner=wiring.runner, user=key, channel=channel).run()
        finally:
            sweeper.stop()
            await sweeping
