# Two commands: `make run` starts the bot, `make test` runs the whole suite. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# --no-compile: Python compiles what is imported when it is first imported; compiling every module of
# every package up front (botocore alone has thousands) took half of the install's time.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/image2bot migrate
	$(BIN)/image2bot run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto

bench: $(STAMP)
	$(BIN)/python -m bench

# The web admin's pages photographed by the headless-browser test (needs /usr/bin/chromium): docs/admin/*.png
screenshots: $(STAMP)
	IMAGE2BOT_SCREENSHOTS=docs/admin $(BIN)/python -m pytest -q -p no:cacheprovider \
		"tests/bot/admin_web/test_admin_in_browser.py::test_an_operator_works_the_desk_in_a_browser[sqlite]"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
