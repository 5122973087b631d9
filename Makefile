# Two commands set everything up on a fresh machine:
#   make run    virtualenv (Python 3.10), install, train if needed, start the bot, print addresses
#   make test   the same set-up, then the whole test suite (trains its own model once per run)
#   make bench  a stock `rasa init` bot and ours (one process, one per core), trained and measured in one run
#               (results/bench.json and bench.svg)
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
MODEL := models/current.tar.gz
WIDGET_JS := widget/dist/widget.js
WIDGET_INPUTS := $(wildcard widget/src/*) widget/package-lock.json data/widget_texts.yml data/texts.yml $(wildcard data/facts/*.yml) bot/widget.py
TRAIN_INPUTS := config.yml domain.yml data/rules.yml $(wildcard data/nlu/*.yml data/nlu/*.txt data/facts/*.yml bot/nlu/*.py bot/lang.py bot/kb/*.py)

export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 3
# Rasa's training cache is on: our components add a hash of the term lists, facts and NLU code they read
# to Rasa's fingerprint (bot.nlu.base.nlu_fingerprint), so an edit retrains what depends on it. The tests
# and `make bench` train from scratch (RASA_MAX_CACHE_SIZE=0) so that no cached result can hide a fault.

.PHONY: run test test-unit lint train setup validate clean widget system-deps bench

run: $(MODEL) $(WIDGET_JS)
	$(PY) -m bot.serve

test: $(INSTALLED) system-deps $(WIDGET_JS) lint
	$(PY) -m pytest

# The fast tier: the tests that need no trained model, servers or browser (about a minute).
test-unit: $(INSTALLED)
	$(PY) -m pytest -m "not servers"

# Lint and format check (ruff) and type check (mypy on bot/ and actions/), both configured in pyproject.toml: run first by `make test`.
lint: $(INSTALLED)
	$(VENV)/bin/ruff check bot actions tests scripts
	$(VENV)/bin/ruff format --check bot actions tests scripts
	$(VENV)/bin/mypy

train: $(MODEL)

# Latency, throughput, memory, training and start-up time against a stock `rasa init` bot (README, "Performance").
# Trains both bots in temporary folders; run it on a quiet machine (about 8 minutes on 2 cores).
bench: $(INSTALLED) system-deps
	$(PY) scripts/bench.py

setup: $(INSTALLED)

# Debian packages beyond Python (chromium for the browser tests); installs only what is missing.
system-deps:
	scripts/install-system-deps

# The web widget: npm ci (socket.io-client) and one bundled script in widget/dist/.
widget: $(WIDGET_JS)

$(WIDGET_JS): $(INSTALLED) $(WIDGET_INPUTS)
	$(PY) -m bot.widget build

$(INSTALLED): pyproject.toml constraints.txt scripts/setup-venv
	scripts/setup-venv $(VENV)
	touch $@

$(MODEL): $(INSTALLED) $(TRAIN_INPUTS)
	$(VENV)/bin/rasa train --skip-validation --fixed-model-name current --out models

validate: $(INSTALLED)
	$(PY) -m bot.kb
	$(VENV)/bin/rasa data validate --fail-on-warnings

clean:
	rm -rf models results test-output .pytest_cache widget/dist
