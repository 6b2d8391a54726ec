# chat-moderation: `make demo` runs the system, `make test` checks it. Both set everything up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION ?= 3.13
DATA_DIR ?= $(abspath $(CURDIR)/../shared/data)
QUICK ?=

# Nothing phones home, and the local emulator accepts any key.
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := true
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_DEFAULT_REGION ?= us-east-1
export DATA_DIR
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never

# An interpreter that exists and runs: pyenv's, else python3.X on PATH, else one uv already knows
# (uv cannot download Python builds offline, so it is always handed one).
PYTHON ?= $(shell for p in \
	$$(command -v pyenv >/dev/null && ls -d "$$(pyenv root)"/versions/$(PYTHON_VERSION)*/bin/python 2>/dev/null | sort -rV) \
	$$(command -v python$(PYTHON_VERSION)) \
	$$(command -v uv >/dev/null && uv python find $(PYTHON_VERSION) 2>/dev/null); do \
	"$$p" -c 'import sys' 2>/dev/null && echo "$$p" && break; done)
UV := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
VENV := .venv
RUN := $(VENV)/bin/python
LS_VENV := .localstack/venv
CK_VENV := .checkov/venv

.PHONY: help install browser check-python check-data up down lint format test test-unit bench mutation sbom demo clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

check-python:
	@test -n "$(PYTHON)" || { echo "error: Python $(PYTHON_VERSION) not found (install it, e.g. 'pyenv install $(PYTHON_VERSION)', or pass PYTHON=/path/to/python$(PYTHON_VERSION))"; exit 1; }

$(UV):
	@command -v uv >/dev/null || python3 -m pip install --quiet --user --break-system-packages uv

$(VENV)/.synced: pyproject.toml uv.lock | check-python $(UV)
	$(UV) sync --frozen --python "$(PYTHON)"
	@touch $@

$(LS_VENV)/.installed: infra/localstack-requirements.txt | check-python $(UV)
	$(UV) venv --quiet --allow-existing --python "$(PYTHON)" $(LS_VENV)
	VIRTUAL_ENV=$(LS_VENV) $(UV) pip install --quiet -r infra/localstack-requirements.txt
	$(LS_VENV)/bin/python -m localstack.cli.lpm install kinesis-mock
	@touch $@

# checkov in an environment of its own (its HCL parser is a fork that would shadow the tests' own).
$(CK_VENV)/.installed: infra/checkov-requirements.txt | check-python $(UV)
	$(UV) venv --quiet --allow-existing --python "$(PYTHON)" $(CK_VENV)
	VIRTUAL_ENV=$(CK_VENV) $(UV) pip install --quiet -r infra/checkov-requirements.txt
	@touch $@

install: $(VENV)/.synced $(LS_VENV)/.installed $(CK_VENV)/.installed  ## create the environments (project, LocalStack, checkov)

# The review app's browser test drives Debian's Chromium (browsers cannot be downloaded by Selenium
# here); as root (CI) it is installed, otherwise the command to run is printed.
BROWSER_PACKAGES := chromium chromium-driver
browser:  ## Debian's chromium and chromium-driver, for the review app's browser test
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then echo "browser: ok"; \
	elif [ "$$(id -u)" = 0 ]; then export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null; }; \
		echo "browser: installed $(BROWSER_PACKAGES)"; \
	else echo "error: run 'sudo apt-get install $(BROWSER_PACKAGES)'"; exit 1; fi

check-data:
	@test -f "$(DATA_DIR)/rscience/comments.csv" && test -f "$(DATA_DIR)/davidson/labeled_data.csv" || \
		{ echo "error: data sets not found under DATA_DIR=$(DATA_DIR) (see docs/operating.md, 'Data')"; exit 1; }

up: install  ## start LocalStack on :4566 (or use AWS_ENDPOINT_URL) and create the stack
	$(RUN) -m infra up

down:  ## stop LocalStack and the UI servers that `make up` / `make demo` started
	@test -x $(RUN) && { $(RUN) -m demo down; $(RUN) -m infra down; } || true

lint: $(VENV)/.synced $(CK_VENV)/.installed  ## ruff, mypy --strict, detect-secrets, checkov, terraform fmt, the docs site (mkdocs --strict)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	git ls-files -z | xargs -0 $(VENV)/bin/detect-secrets-hook --baseline .secrets.baseline && echo "detect-secrets: ok"
	BC_SKIP_MAPPING=TRUE $(CK_VENV)/bin/checkov -d infra/terraform --framework terraform --skip-download \
		--compact --quiet -o cli
	@if command -v terraform >/dev/null; then TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive infra/terraform && echo "terraform fmt: ok"; \
	else echo "terraform not installed: skipping 'terraform fmt -check'"; fi
	@out=$$(NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir .site 2>&1) && echo "mkdocs: ok" || \
		{ echo "$$out"; exit 1; }

format: $(VENV)/.synced  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Two workers (pytest-xdist), each with its own LocalStack, moto and Prefect; the slowest tests are
# printed at the end. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: install browser check-data lint  ## lint, then every test (unit, integration on LocalStack, e2e), in parallel
	$(RUN) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --maxschedchunk 1)

test-unit: $(VENV)/.synced  ## pure tests only, no services
	$(RUN) -m pytest -m "not integration and not e2e"

# mutmut keeps its work in mutants/ and goes on where it stopped (Ctrl-C is safe): a first full run takes
# hours here, as normalize's and moderation's mutants each run most of the unit tests. MUTANTS="x.y.*"
# runs only those mutants (e.g. MUTANTS="training.promotion.*").
MUTANTS ?=
mutation: install  ## mutation testing of the pure core against the unit tests (mutmut): survivors in benchmarks/results/mutation-latest.json
	$(UV) sync --frozen --group mutation --python "$(PYTHON)"
	$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS) || true
	$(RUN) -m benchmarks.mutation
	$(RUN) -m benchmarks report

bench: install check-data  ## benchmarks: model/handler msg/s per core, cold start, RSS, put→verdict latency, model trade-off (COMPARE=1: vs alt-profanity-check)
	$(if $(COMPARE),$(UV) sync --frozen --group compare --python "$(PYTHON)")
	$(RUN) -m benchmarks $(BENCH_ARGS)

# The consumer image's runtime dependency set (the Dockerfile's `uv export` flags, held by a test).
SBOM := benchmarks/results/sbom-runtime.cdx.json
sbom: | $(UV)  ## CycloneDX SBOM of the Lambda image's runtime dependencies, kept with the benchmark results
	$(UV) export --frozen --no-default-groups --no-emit-project --format cyclonedx1.5 --quiet -o $(SBOM)
	@echo "sbom: $(SBOM)"

demo: install check-data  ## the whole loop with a live view, the UIs and a summary (QUICK=1: small)
	$(RUN) -m demo $(if $(QUICK),--quick) $(if $(STOP),--stop)

clean: down  ## remove environments and local state
	rm -rf $(VENV) .localstack .checkov .pytest_cache .mypy_cache .ruff_cache .site
