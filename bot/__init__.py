"""The composition root: config, the Telegram adapter, the terminal chat, the web app, the CLI."""
