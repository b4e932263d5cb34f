# gowsgi build, test and run. The Python gowsgi embeds is $(PYTHON): its
# pkg-config directory gives the headers and libpython, its libdir the
# rpath, and the test venv is made with it.
#   make build                 bin/gowsgi against python3
#   PYTHON=python3.12 make build
#   make run                   serve the demo Django project on 127.0.0.1:8000
#   make test                  unit + end-to-end tests

PYTHON ?= python3
VENV ?= .venv
GO ?= go

PY_LIBPC := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LIBPC") or "")' 2>/dev/null)
PY_LIBDIR := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")' 2>/dev/null)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

export PKG_CONFIG_PATH := $(PY_LIBPC)$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))
export CGO_ENABLED := 1
export CGO_LDFLAGS := -Wl,-rpath,$(PY_LIBDIR) $(CGO_LDFLAGS)

VENV_PY := $(VENV)/bin/python
DEMO := testdata/django_demo
DEMO_DB ?= $(DEMO)/db.sqlite3
# make run serves here; BIND=127.0.0.1:9000 make run when 8000 is taken.
BIND ?= 127.0.0.1:8000

.PHONY: all build run test test-unit test-e2e vet bench bench-quick check-python clean docs

all: build

check-python:
	@test -n "$(PY_LIBPC)" || { echo "make: cannot run $(PYTHON); set PYTHON=/path/to/python3.X" >&2; exit 1; }
	@test -f "$(PY_LIBPC)/python3-embed.pc" || { echo "make: $(PYTHON) has no python3-embed.pc in $(PY_LIBPC) (a Python built with --enable-shared is needed)" >&2; exit 1; }

build: check-python
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/gowsgi ./cmd/gowsgi

# The venv is made by $(PYTHON) so its packages match the embedded Python.
$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: testdata/requirements.txt $(VENV_PY)
	$(VENV_PY) -m pip install --quiet --disable-pip-version-check -r testdata/requirements.txt
	touch $@

venv: $(VENV)/.installed

run: build venv
	DEMO_DB=$(abspath $(DEMO_DB)) $(VENV_PY) $(DEMO)/manage.py migrate --noinput
	$(VENV_PY) $(DEMO)/manage.py collectstatic --noinput --verbosity 0
	DEMO_DB=$(abspath $(DEMO_DB)) ./bin/gowsgi run --virtualenv $(VENV) --chdir $(DEMO) \
		--static /static/=$(DEMO)/staticfiles \
		--bind $(BIND) --access-logfile - demo.wsgi:application

vet: check-python
	$(GO) vet ./...

test: build venv vet
	GOWSGI_TEST_VENV=$(abspath $(VENV)) $(GO) test -count=1 -timeout 20m ./...
	$(PYTHON) scripts/bench_test.py

# Man pages from the cobra commands (docs/man/*.1, committed).
docs: build
	rm -rf docs/man
	env -u VIRTUAL_ENV SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct) ./bin/gowsgi docs docs/man

bench-quick: build venv
	scripts/bench-hello

# The full comparison (about 25 min; docs/bench/). scripts/bench makes its own
# venv, .venv-bench, from scripts/benchapp/requirements.txt with $(PYTHON).
# BENCH_ARGS picks a subset, e.g. BENCH_ARGS="--only hello,flask --quick".
bench: build
	$(PYTHON) scripts/bench --gowsgi bin/gowsgi $(BENCH_ARGS)

clean:
	rm -rf bin
