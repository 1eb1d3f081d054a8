# logout_sso: `make demo` runs the example project, `make test` runs the test suite, `make docs`
# builds the documentation.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format migrations-check messages benchmark bench tox docs clean

# One virtualenv; each extra is installed once, again only when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	touch $@

demo: $(VENV)/.installed-demo
	@if command -v npm >/dev/null; then npm ci --prefix tests/op --no-audit --no-fund --loglevel=error; \
	else echo "Node.js/npm not found: the demo will run without its OpenID provider."; fi
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py run_demo

test: $(VENV)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy logout_sso example_project tests benchmarks

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The translation catalogues: collect the strings marked for translation into each language's
# django.po (new ones untranslated, changed ones fuzzy), then compile every django.mo. Translate
# what is new, run it again, commit both files (tests/core/test_translations.py checks them).
# Every language under logout_sso/locale/ by default; LOCALES=de starts (or updates) German alone.
# Django runs without settings here (DJANGO_SETTINGS_MODULE is cleared): makemessages reads the
# files, it imports nothing.
LOCALES ?= $(notdir $(wildcard logout_sso/locale/*))
MAKEMESSAGES_OPTIONS = --ignore=migrations --add-location=file --no-obsolete
messages: $(VENV)/.installed-dev
	cd logout_sso && DJANGO_SETTINGS_MODULE= $(abspath $(BIN))/django-admin makemessages \
		$(addprefix --locale=,$(or $(LOCALES),fr)) $(MAKEMESSAGES_OPTIONS)
	cd logout_sso && DJANGO_SETTINGS_MODULE= $(abspath $(BIN))/django-admin compilemessages

# The documentation site (MkDocs, strict: a broken link or a missing page fails), into var/site/.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir var/site

# Speed lives here, not in the tests: results in benchmarks/results.json, docs/benchmarks.md.
# On PostgreSQL and Redis, as in production (BENCH_DATABASE_URL=sqlite:///var/bench.sqlite3 for
# the embedded tier); BENCHMARKS=benchmarks/test_hub_scale_out.py runs one module.
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/logout_sso_bench
BENCHMARKS ?= benchmarks
bench benchmark: $(VENV)/.installed-bench
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/pytest $(BENCHMARKS) -p tests.services \
		-p tests.oidc_provider -p no:cacheprovider --liveserver 127.0.0.1 -s -q

migrations-check: $(VENV)/.installed-test
	$(BIN)/python -m django makemigrations --check --dry-run --settings=tests.settings

# The whole support matrix; pyenv's Python 3.11-3.13 go first on PATH when pyenv is there.
PYENV_PATH = $(shell command -v pyenv >/dev/null && for v in $$(pyenv versions --bare | grep -E '^3\.1[1-3]\.'); do printf '%s/versions/%s/bin:' "$$(pyenv root)" "$$v"; done)
tox: $(VENV)/.installed-dev
	PATH="$(PYENV_PATH)$$PATH" $(BIN)/tox $(TOX_ARGS)

clean:
	rm -rf $(VENV) var .tox .pytest_cache .mypy_cache .ruff_cache *.egg-info
