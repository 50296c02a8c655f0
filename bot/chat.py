"""Wiring of `kycbot chat`: runner, sweeper and terminal, with the simulator's SMS on screen."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.app import wired
from bot.config import Settings
from bot.reload import config_reloading
from bot.sweeper import Sweeper
from bot.terminal import TerminalChannel, TerminalChat
from kyc import SimulatedSms
from storage import UserKey

__all__ = ["CHANNEL", "run_chat"]

CHANNEL = "terminal"


async def run_chat(settings: Settings, *, user: str, config: Path | None = None) -> None:
    """Chat as `user` until /quit or end of input; edits of `config` apply as it runs."""
    channel = TerminalChannel(sys.stdout)

    def show_sms(sms: SimulatedSms) -> None:
        channel.write(f"\n{sms.text()}\n")

    key = UserKey(channel=CHANNEL, external_id=user)
    # No SIGHUP here: in a terminal it means the terminal went away, and the chat should end.
    async with (
        wired(settings, on_sms=show_sms) as wiring,
        config_reloading(config, wiring.runner, on_sighup=False, stderr_follows_level=False),
    ):
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
