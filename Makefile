# The two commands a newcomer runs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test unit lint typecheck pytest clean bench-memory bench-rate bench-ceiling \
	bench-run bench-shards

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/webhook-sim demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy --strict dispatcher webhook_sim examples tests/test_api.py tests/apidoc.py

# The suite starts ~85 webhook-sim processes: each must reuse the compiled modules instead of
# compiling the package again, even where PYTHONDONTWRITEBYTECODE is set (52 s against 39 s).
PYCACHE := env -u PYTHONDONTWRITEBYTECODE

# In parallel: -n auto is two workers per core, at most 8 (tests/conftest.py says why);
# worksteal hands each worker a run of neighbouring tests (which share receivers) and moves
# work from a busy worker to an idle one at the end.
pytest: $(VENV)/.installed-test
	$(BIN)/python -m compileall -q dispatcher webhook_sim > /dev/null
	$(PYCACHE) $(BIN)/pytest -q -n auto --dist worksteal

test: lint typecheck pytest

# The fast tests alone: none marked e2e (a webhook-sim subprocess, a whole check suite, a
# load run); tests/conftest.py marks every test that starts a receiver subprocess.
unit: $(VENV)/.installed-test
	$(PYCACHE) $(BIN)/pytest -q -m "not e2e" -n auto --dist worksteal

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis

# Benchmarks (minutes each; results go in docs/benchmarks.md). Not part of `make test`.
bench-memory: $(VENV)/.installed-test
	$(BIN)/python -m bench.memory

bench-rate: $(VENV)/.installed-test
	$(BIN)/python -m bench.rate

bench-ceiling: $(VENV)/.installed-test
	$(BIN)/python -m bench.ceiling

bench-run: $(VENV)/.installed-test
	$(BIN)/python -m bench.runspeed

bench-shards: $(VENV)/.installed-test
	$(BIN)/python -m bench.shards
