"""`kycbot run` in polling mode serves the console on [web]'s port, next to the fake Bot API."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.bot.telegram_process import telegram_world
from tests.console.conftest import PREFIX, TOKEN


async def test_polling_mode_serves_the_console_on_the_web_port(tmp_path: Path) -> None:
    # Metrics off: the console alone must be reason enough to serve the web app.
    async with telegram_world(
        tmp_path / "kycbot", KYCBOT_CONSOLE__TOKEN=TOKEN, KYCBOT_METRICS__ENABLED="false"
    ) as world:
        await world.start()
        origin = f"http://127.0.0.1:{world.env['KYCBOT_WEB__PORT']}"
        async with httpx.AsyncClient(base_url=origin, timeout=10) as client:
            refused = await client.get(f"{PREFIX}/")
            assert refused.status_code == 401
            signed = await client.post(
                f"{PREFIX}/sign-in", data={"token": TOKEN}, headers={"Origin": origin}
            )
            assert signed.status_code == 303
            listing = await client.get(f"{PREFIX}/")
            assert listing.status_code == 200
            assert "0 verifications." in listing.text
        assert TOKEN not in world.log_text()
