# Two commands: `make demo` (a whole verification in the terminal, simulator + SQLite) and
# `make test` (everything CI runs). `make run` starts the Telegram bot from config.toml.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_SECRETS := .demo-secrets.env

.PHONY: demo test lint typecheck pytest run install clean docs bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo keeps its generated keys in a local file, so a second run can still read the
# number it stored encrypted in the first.
$(DEMO_SECRETS): | $(STAMP)
	$(BIN)/kycbot keys > $(DEMO_SECRETS)

demo: $(STAMP) $(DEMO_SECRETS)
	set -a && . ./$(DEMO_SECRETS) && set +a && $(BIN)/kycbot db upgrade && $(BIN)/kycbot chat

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.flow_bench

# The Telegram bot, from config.toml when there is one; the token and keys come from the
# environment (KYCBOT_TELEGRAM__TOKEN, KYCBOT_SECURITY__*).
run: $(STAMP)
	$(BIN)/kycbot run $(if $(wildcard config.toml),--config config.toml,)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

# Regenerate the conversation diagram after changing flows/table.py (a test checks it).
docs: $(STAMP)
	$(BIN)/python -m flows.diagram > .diagram.tmp
	$(BIN)/python -c "import re,pathlib; p=pathlib.Path('docs/conversation.md'); d=pathlib.Path('.diagram.tmp').read_text(); p.write_text(re.sub(r'(?s)(\`\`\`mermaid\n).*?(\`\`\`)', lambda m: m.group(1)+d+m.group(2), p.read_text()))"
	rm -f .diagram.tmp
