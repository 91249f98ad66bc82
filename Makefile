# Two commands for a newcomer: `make run` and `make test`. Both bootstrap .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check protos bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start every service in one process on the demo warehouse (SQLite store in ./var).
run: $(STAMP)
	$(BIN)/python -m services.server

## test: lint, type-check and run the whole test suite.
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy routing picking allocation services tests benchmarks protos/generate.py

## protos: regenerate the Python code from protos/warehouse/v1/*.proto.
protos: $(STAMP)
	$(BIN)/python protos/generate.py

## bench: run the benchmarks and rewrite their committed result tables.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks.routing_bench
	$(BIN)/python -m benchmarks.grpc_bench
	PYTHONPATH=.:protos $(BIN)/python -m benchmarks.inventory_bench
	$(BIN)/python -m benchmarks.picking_bench
	$(BIN)/python -m benchmarks.class_bench
	$(BIN)/python -m benchmarks.class_bench --orders 40
	$(BIN)/python -m benchmarks.pricing_bench
	$(BIN)/python -m benchmarks.bulk_bench
	$(BIN)/python -m benchmarks.split_bench
	$(BIN)/python -m benchmarks.twin_bench
	$(BIN)/python -m benchmarks.lateness_bench
	$(BIN)/python -m benchmarks.allocation_bench
	$(BIN)/python -m benchmarks.replan_bench

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
