# The two commands of the README are `make run` and `make test`; each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: what running needs (the service, its SDK and a redis-server binary), and on top of
# it what testing needs (the dev extra), so the first `make run` installs no test tools.
RUN_STAMP := $(VENV)/.run-stamp
STAMP := $(VENV)/.installed-stamp
SDK := sdk/python

.PHONY: install js run test lint bench demo controller clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The service depends on prompt-rollout-sdk, installed from the checkout beside it.
$(RUN_STAMP): pyproject.toml $(SDK)/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e $(SDK) -e '.[server]'
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e $(SDK) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The TypeScript SDK (sdk/js): installed from its lockfile, again only when the lockfile changes.
JS := sdk/js
JS_STAMP := $(JS)/node_modules/.installed-stamp

$(JS_STAMP): $(JS)/package-lock.json
	@command -v npm >/dev/null || (echo "Node.js 18+ and npm are needed for sdk/js" && false)
	npm ci --prefix $(JS) --no-audit --no-fund
	touch $(JS_STAMP)

js: $(JS_STAMP)

run: $(RUN_STAMP)
	$(BIN)/rollout serve

controller: $(RUN_STAMP)
	$(BIN)/rollout controller

lint: $(STAMP) $(JS_STAMP)
	$(BIN)/ruff check experiments rollout $(SDK) tests bench deploy
	$(BIN)/mypy experiments rollout $(SDK)/rollout_sdk
	npm run lint --prefix $(JS)

test: lint
	@# The tests run nginx themselves; the package's own service (port 80) is stopped if it started.
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || (apt-get update -qq && \
		(apt-get install -y -qq nginx-light || apt-get install -y -qq nginx) && \
		(invoke-rc.d nginx stop >/dev/null 2>&1 || true)) \
		|| echo "nginx not installed: the reverse-proxy tests (tests/e2e/test_proxy.py) skip"
	@# The console's browser tests drive Debian's Chromium (Playwright cannot download one here).
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)
	npm test --prefix $(JS)
	$(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) \
		|| echo "wrk not installed: the HTTP benchmarks use their Python load generator"
	$(BIN)/python bench/run_all.py

# The demo's application calls OpenAI (a local stand-in) through the SDK: the official client too.
DEMO_STAMP := $(VENV)/.demo-stamp

$(DEMO_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e $(SDK) -e '.[server,demo]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m rollout.demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info $(JS)/node_modules $(JS)/dist \
		$(SDK)/build $(SDK)/*.egg-info
