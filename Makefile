# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Extra options: `make test PYTEST_ARGS="-k cluster -x"`, `make demo DEMO_ARGS="--users 20"`.
PYTEST_ARGS ?=
# The suite mostly waits on sockets and timers, not CPU: 4 workers finish it in a third of the
# time even on 2 cores. `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= 4
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)
DEMO_ARGS ?=
JWT_SECRET ?= dev-secret-for-local-trials-only-0123
URL ?=

.PHONY: help install test test-fast lint format demo serve conform load ci docker-build compose-up compose-load compose-down clean

help:
	@echo "make install       create $(VENV) and install the project with its dev tools"
	@echo "make test          the whole test suite (PYTEST_ARGS=... to narrow it)"
	@echo "make test-fast     the suite without tests marked slow"
	@echo "make lint          ruff check, ruff format --check, mypy, import-linter contracts"
	@echo "make format        ruff format + ruff check --fix"
	@echo "make demo          start the reference server, run conformance and a short load, write reports"
	@echo "make serve         the reference server on 127.0.0.1:8000 (JWT_SECRET=...)"
	@echo "make conform       conformance suite against URL=... (or the bundled server)"
	@echo "make load          a 30 s team_sync load against URL=... (or the bundled server)"
	@echo "make ci            what CI runs (.ci/run)"
	@echo "make docker-build  build the image crm-realtime-harness:latest"
	@echo "make compose-up    three nodes + Redis + PostgreSQL + nginx on :8080 (docker compose)"
	@echo "make compose-load  ... plus Locust master and workers against nginx"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy scripts
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP)
	$(BIN)/python scripts/demo.py $(DEMO_ARGS)

serve: $(STAMP)
	$(BIN)/crm-harness serve --host 127.0.0.1 --port 8000 --jwt-secret $(JWT_SECRET)

conform: $(STAMP)
	$(BIN)/crm-harness conform $(if $(URL),--url $(URL)) --jwt-secret $(JWT_SECRET) --report reports/conformance

load: $(STAMP)
	$(BIN)/crm-harness load $(if $(URL),--url $(URL)) --jwt-secret $(JWT_SECRET) --users 100 --spawn-rate 50 --duration 30s --scenario team_sync --report reports/load

ci:
	bash .ci/run

docker-build:
	docker build -t crm-realtime-harness:latest .

compose-up:
	docker compose up -d --build

compose-load:
	docker compose --profile load up --build

compose-down:
	docker compose --profile load down

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
