# Two entry points (see README): `make example` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: example test lint typecheck layers unit bench install system-deps dashboard facts
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# strict editable mode: a link tree that maps shared/ -> ddcompat/shared for every tool
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=strict 2>&1 \
	  | grep -v -e '^ *$$' -e '!!' -e '\*\*\*' -e 'editable' -e 'Please be careful' -e 'to import/use' -e 'corresp' -e 'with strategy' || true
	touch $(STAMP)

# `make example` needs the CLI alone: the core dependencies, installed quietly (the
# installer's output is kept in $(VENV)/install.log and shown only if it fails)
CORE_STAMP := $(VENV)/.installed-core
$(CORE_STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	@echo "installing ddcompat (the CLI and its core dependencies) into $(VENV)..."
	@{ $(BIN)/pip install --quiet --upgrade pip \
	  && $(BIN)/pip install --quiet -e . --config-settings editable_mode=strict; } \
	  > $(VENV)/install.log 2>&1 || { cat $(VENV)/install.log; exit 1; }
	@touch $(CORE_STAMP)

install: $(STAMP)
	# new modules need the link tree refreshed
	$(BIN)/pip install --quiet --no-deps -e . --config-settings editable_mode=strict >/dev/null 2>&1 \
	  || $(BIN)/pip install --no-deps -e . --config-settings editable_mode=strict
	# byte-compile as a wheel install does (editable installs don't, and with
	# PYTHONDONTWRITEBYTECODE set every start would compile the sources again)
	$(BIN)/python -m compileall -q "$$($(BIN)/python -c 'import ddcompat.shared as s, os; print(os.path.dirname(os.path.dirname(s.__file__)))')" >/dev/null

example: $(CORE_STAMP)
	@$(BIN)/ddcompat check examples/ --policy examples/policy.yaml --format table; \
	  status=$$?; echo "ddcompat check exit status: $$status (1 = noncompliant workloads found)"; \
	  [ $$status -le 1 ]

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check shared webhook scanner tests bench

typecheck: install
	$(BIN)/mypy -p ddcompat.shared -p ddcompat.webhook -p ddcompat.scanner
	$(BIN)/mypy tests bench

layers: install
	$(BIN)/lint-imports

# Debian's packages the tests run for real: prometheus (Prometheus and promtool, the
# scanner tests), docker-registry (an OCI registry, distribution 2.8) and skopeo (pushes
# the test images into it) for the image inspector's tests; chromium (headless, driven by
# Playwright) for the HTML report's.
SYSTEM_PACKAGES = prometheus docker-registry skopeo chromium
system-deps:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null \
	  && command -v docker-registry >/dev/null && command -v skopeo >/dev/null \
	  && command -v chromium >/dev/null || { \
	  echo "installing Debian's packages: $(SYSTEM_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; }

unit: install system-deps
	$(BIN)/pytest

test: lint typecheck layers unit

# The chart's Grafana dashboard, regenerated from ddcompat.scanner.dashboard (a test
# compares the two)
dashboard: install
	$(BIN)/python -m ddcompat.scanner.dashboard > helm/ddcompat/files/dashboard.json

# The current edition's release facts, derived from PyPI (ddcompat.shared.derive): reads
# the index again into tests/matrix/pypi/, then rewrites runtimes.yaml and shared/data/*.tsv
# from it (a test checks, offline, that the shipped files are what the snapshot derives)
facts: install
	$(BIN)/python -m ddcompat.shared.derive --refresh

bench: install
	$(BIN)/python bench/check.py
	$(BIN)/python bench/webhook.py
	$(BIN)/python bench/scanner.py
	$(BIN)/python bench/images.py
