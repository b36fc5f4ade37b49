# Set-up commands the README promises. `make test` works on a fresh machine with Python >= 3.11.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build keeps CUDA packages out; override for a GPU box (TORCH_SPEC="torch").
TORCH_SPEC ?= torch==2.13.0

.PHONY: test lint install dev check-core bench clean

$(VENV)/.dev-installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[dev,train]'
	touch $@

dev: $(VENV)/.dev-installed

lint: dev
	$(VENV)/bin/ruff check .

test: lint
	$(VENV)/bin/pytest -q

# The core install (no extras) must stay light: no torch, no CUDA, no trainer stack.
check-core:
	python3 .ci/check_core_install.py

install:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e .

bench: dev
	$(PY) benchmarks/records_io.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
