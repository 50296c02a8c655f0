"""A bare python-telegram-bot echo bot: the baseline of `bench/telegram_bench.py`.

    KYCBOT_TELEGRAM__TOKEN=... KYCBOT_TELEGRAM__BASE_URL=http://127.0.0.1:PORT/bot \
        python -m bench.echo_bot

Polling with PTB's defaults (one update at a time, no rate limiter, no persistence), it
answers every text with the same text and does nothing else. It reads the same two
environment variables as `kycbot run`, so the benchmark starts both bots alike. SIGTERM or
SIGINT stops it gracefully (PTB's `run_polling`).
"""

from __future__ import annotations

import os

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]  # as `kycbot run` asks


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply with the text just received."""
    message = update.effective_message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


def main() -> None:
    """Poll until stopped by a signal."""
    application = (
        ApplicationBuilder()
        .token(os.environ["KYCBOT_TELEGRAM__TOKEN"])
        .base_url(os.environ.get("KYCBOT_TELEGRAM__BASE_URL", "https://api.telegram.org/bot"))
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(allowed_updates=ALLOWED_UPDATES)


if __name__ == "__main__":
    main()
