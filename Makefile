# The two commands of the README are `make run` and `make test`; each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install js run test lint bench demo controller clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

run: $(STAMP)
	$(BIN)/rollout serve

controller: $(STAMP)
	$(BIN)/rollout controller

lint: $(STAMP) $(JS_STAMP)
	$(BIN)/ruff check experiments rollout tests bench deploy
	$(BIN)/mypy experiments rollout
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

demo: $(STAMP)
	$(BIN)/python -m rollout.demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info $(JS)/node_modules $(JS)/dist
