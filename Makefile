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
# The pinned dependency sets (`make lock` writes them, `make install` installs dev.txt).
LOCK_DIR := lock
UPGRADE ?=
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes \
	--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
JWT_SECRET ?= dev-secret-for-local-trials-only-0123
URL ?=
# The compose stack. COMPOSE: `docker compose` (v2) where it answers, else `docker-compose` (v1,
# Debian's). LOCAL_IMAGES=1: every image built on a local Debian base, no registry needed
# (scripts/local-docker.sh starts an engine and builds that base when need be).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_PROJECT ?= crm-realtime-harness
LOCAL_IMAGES ?=
COMPOSE_RUN = $(COMPOSE) -p $(COMPOSE_PROJECT) -f docker-compose.yml $(if $(LOCAL_IMAGES),-f deploy/local/docker-compose.local.yml)
# Where `make compose-load` copies the load run's directory (summary.json, report).
COMPOSE_LOAD_REPORT ?= reports/compose-load
# The containers' open-file limit (docker-compose.yml asks 65536). An engine started from this
# shell (LOCAL_IMAGES=1) cannot grant more than the shell's hard limit: 20000 on these CI
# machines, where root may not raise it. runc's "error setting rlimit type 7" means exactly that.
ifdef LOCAL_IMAGES
CRM_NOFILE ?= $(shell n=$$(ulimit -Hn); if [ "$$n" = unlimited ] || [ "$$n" -ge 65536 ]; then echo 65536; else echo $$n; fi)
export CRM_NOFILE
endif

.PHONY: help install lock test test-busy test-fast test-stack lint docs format demo serve conform load ci docker-build compose-build compose-up compose-load compose-down clean

help:
	@echo "make install       create $(VENV) and install the project with its dev tools"
	@echo "make lock          refresh lock/*.txt from pyproject.toml (UPGRADE=1: newest allowed)"
	@echo "make test          the whole test suite (PYTEST_ARGS=... to narrow it)"
	@echo "make test-busy     the suite while another process keeps one core busy (TEST_BUSY_RUNS=3)"
	@echo "make test-fast     the suite without tests marked slow"
	@echo "make test-stack    the compose stack for real on a local Docker engine (10-30 min)"
	@echo "make lint          ruff check, ruff format --check, mypy, import-linter contracts, docs"
	@echo "make docs          the documentation site (MkDocs, --strict) into site/"
	@echo "make format        ruff format + ruff check --fix"
	@echo "make demo          start the reference server, run conformance and a short load, write reports"
	@echo "make serve         the reference server on 127.0.0.1:8000 (JWT_SECRET=...)"
	@echo "make conform       conformance suite against URL=... (or the bundled server)"
	@echo "make load          a 30 s team_sync load against URL=... (or the bundled server)"
	@echo "make ci            what CI runs (.ci/run)"
	@echo "make docker-build  build the image crm-realtime-harness:latest (LOCAL_IMAGES=1: :local)"
	@echo "make compose-up    three nodes + Redis + PostgreSQL + nginx on :8080 + Prometheus, healthy"
	@echo "make compose-load  a load run by the Locust services against nginx, its report copied"
	@echo "make compose-down  stop the stack, drop its volumes (LOCAL_IMAGES=1: on local images)"

# Installs are pinned: every dependency from lock/dev.txt (exact versions, hashes checked), then
# the project itself, editable, without resolving anything. The locks are for CPython 3.11 on
# Linux x86_64 (what CI, the image and the GitHub Action run); lock/README.md says more.
$(STAMP): pyproject.toml $(LOCK_DIR)/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK_DIR)/dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Refresh the locks after editing the dependencies of pyproject.toml: pins already in a lock are
# kept (UPGRADE=1 moves every one to the newest release pyproject.toml allows). dev.txt first;
# server.txt and harness.txt are constrained by it, so a package has one version in all three.
lock: $(STAMP)
	$(UV_COMPILE) --extra dev -o $(LOCK_DIR)/dev.txt
	$(UV_COMPILE) --extra server --extra cluster -c $(LOCK_DIR)/dev.txt -o $(LOCK_DIR)/server.txt
	$(UV_COMPILE) -c $(LOCK_DIR)/dev.txt -o $(LOCK_DIR)/harness.txt

test: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The suite must hold on a busier machine than the one it was written on: one core spinning
# for the whole run, TEST_BUSY_RUNS times in a row (the first failure stops it).
TEST_BUSY_RUNS ?= 1
test-busy: $(STAMP)
	@$(PYTHON) -c 'while True: pass' & spinner=$$!; trap 'kill $$spinner' EXIT; \
	for run in $$(seq $(TEST_BUSY_RUNS)); do \
	  echo "test-busy: run $$run of $(TEST_BUSY_RUNS), one core kept busy by pid $$spinner"; \
	  $(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS) || exit 1; \
	done

test-fast: $(STAMP)
	$(BIN)/python -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

# Not part of `make test`: building the images cold alone exceeds the suite's budget.
test-stack: $(STAMP)
	CRM_STACK_TESTS=1 $(BIN)/python -m pytest -m stack tests/ship/test_compose_stack.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy scripts
	$(BIN)/lint-imports
	$(MAKE) --no-print-directory docs

# The docs site (mkdocs.yml): --strict turns a broken link, a missing include or a page left out
# of nav into a failure. NO_MKDOCS_2_WARNING: mkdocs-material's banner about its successor.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

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
ifdef LOCAL_IMAGES
	bash scripts/local-docker.sh
	docker build --network host --build-arg BASE_IMAGE=crm-local/base:bookworm -t crm-realtime-harness:local .
else
	docker build -t crm-realtime-harness:latest .
endif

# LOCAL_IMAGES: one build at a time on this machine (.ci/run builds in the background while
# the tests may ask for the same images). Every app service shares node-1's image.
compose-build:
	$(if $(LOCAL_IMAGES),bash scripts/local-docker.sh)
	$(if $(LOCAL_IMAGES),flock /tmp/crm-local-images.lock) $(COMPOSE_RUN) build node-1 postgres

# Compose v1 has no `up --wait`: the script waits for every health check (and fails on one).
compose-up: compose-build
	$(COMPOSE_RUN) up -d
	bash scripts/local-docker.sh wait $(COMPOSE_PROJECT) 300

# The Locust master and workers (LOCUST_USERS, LOCUST_WORKERS, LOCUST_DURATION, ... of
# docker-compose.yml) against the stack `make compose-up` started (and built the image for);
# exits with the master's status (the run's verdict) once its run directory is copied to
# COMPOSE_LOAD_REPORT (without load-config.json, which holds the JWT secret).
compose-load:
	$(COMPOSE_RUN) --profile load up -d locust-master locust-worker
	@master=$$(docker ps -aq --filter label=com.docker.compose.project=$(COMPOSE_PROJECT) \
	    --filter label=com.docker.compose.service=locust-master); \
	  code=$$(docker wait $$master); \
	  docker logs --tail 30 $$master; \
	  rm -rf $(COMPOSE_LOAD_REPORT) && mkdir -p $(dir $(COMPOSE_LOAD_REPORT)) && \
	  docker cp $$master:/runs/compose-load $(COMPOSE_LOAD_REPORT) && \
	  rm -f $(COMPOSE_LOAD_REPORT)/load-config.json && \
	  echo "compose-load: run directory in $(COMPOSE_LOAD_REPORT), master exit $$code" && \
	  exit $$code

compose-down:
	$(COMPOSE_RUN) --profile load down -v

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
