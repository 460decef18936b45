# citytwin — one command to run, one to test.
#   make run    venv + install + build the embedded city if needed + serve on :8000
#   make test   test deps + PostgreSQL/PostGIS (Debian) + throwaway cluster + pytest
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: run build serve test install install-dev system-deps lint audit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

build: install
	$(BIN)/twin build

serve: build
	$(BIN)/twin serve --host $(HOST) --port $(PORT)

run: serve

# Debian packages the tests use: PostgreSQL + PostGIS, and Chromium (+ a CJK font) for
# the web-map test in a real browser.
system-deps:
	scripts/pgtest.sh install
	@if ! command -v chromium >/dev/null 2>&1 || [ ! -d /usr/share/fonts/truetype/wqy ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; \
	  else echo "chromium missing: the browser test will fail (apt-get install chromium)"; fi; \
	fi

# Known vulnerabilities in the installed dependencies (pip-audit). Findings fail the build
# unless listed with a reason in .pip-audit-ignore; an unreachable vulnerability service
# or packages the index does not know only print a warning, so CI is not made flaky.
audit: install-dev
	@ignores=$$(sed -e 's/#.*//' .pip-audit-ignore 2>/dev/null | awk 'NF {print "--ignore-vuln", $$1}'); \
	out=$$($(BIN)/pip-audit --skip-editable --progress-spinner off --desc on $$ignores 2>&1); rc=$$?; \
	skipped=$$(printf '%s\n' "$$out" | grep -c "could not be audited"); \
	printf '%s\n' "$$out" | grep -v "could not be audited" | grep -v "^Name  *Skip Reason" | grep -v "^-*  *-*$$"; \
	if [ $$rc -ne 0 ] && printf '%s\n' "$$out" | grep -q "known vulnerabilit"; then exit 1; fi; \
	if [ $$rc -ne 0 ]; then echo "warning: the dependency audit could not run (vulnerability service unreachable?)"; fi; \
	if [ $$skipped -gt 0 ]; then echo "warning: $$skipped dependencies could not be audited (unknown to the vulnerability service)"; fi

test: install-dev system-deps audit
	@pgdir=$$(mktemp -d /tmp/citytwin-pg.XXXXXX); \
	url=$$(scripts/pgtest.sh start $$pgdir) || exit 1; \
	echo "PostGIS test cluster: $$url"; \
	TWIN_TEST_DATABASE_URL=$$url $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	scripts/pgtest.sh stop $$pgdir; exit $$rc

lint: install-dev
	$(BIN)/ruff check twin layers address routing api tests benchmarks

clean:
	rm -rf build $(VENV) .pytest_cache test-artifacts
