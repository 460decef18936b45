# citytwin — one command to run, one to test.
#   make run    venv + install + build the embedded city if needed + serve on :8000
#   make test   test deps + PostgreSQL/PostGIS (Debian) + throwaway cluster + pytest
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: run build serve test install install-dev system-deps lint clean

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

test: install-dev system-deps
	@pgdir=$$(mktemp -d /tmp/citytwin-pg.XXXXXX); \
	url=$$(scripts/pgtest.sh start $$pgdir) || exit 1; \
	echo "PostGIS test cluster: $$url"; \
	TWIN_TEST_DATABASE_URL=$$url $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	scripts/pgtest.sh stop $$pgdir; exit $$rc

lint: install-dev
	$(BIN)/ruff check twin layers address routing api tests benchmarks

clean:
	rm -rf build $(VENV) .pytest_cache test-artifacts
