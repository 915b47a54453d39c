# The two commands of the README: `make run` and `make test` (plus `make bench`).
# Everything they need is installed here, idempotently: Debian packages once, a virtualenv in .venv.

PYTHON      ?= python3.11
VENV        := .venv
PY          := $(VENV)/bin/python
APT_PACKAGES := build-essential libasound2-dev libspandsp-dev libspeexdsp-dev espeak-ng \
                kamailio kamailio-sqlite-modules baresip-core umockdev
KERNELS     := $(wildcard firmware/dsp/_*.pyx firmware/dsp/_*.pxd firmware/dsp/_*.h)

.PHONY: run test bench lint build deps clean

run: build
	$(PY) -m firmware.demo

test: build
	$(VENV)/bin/ruff check firmware tests bench hil-tests setup.py
	$(PY) -m pytest

bench: build
	$(PY) -m bench.run $(TOPICS)

lint: build
	$(VENV)/bin/ruff check firmware tests bench hil-tests setup.py

build: $(VENV)/.kernels-built

deps: $(VENV)/.debian-packages

# Debian packages: apt-get only when one is missing, so a second run costs nothing.
$(VENV)/.debian-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@mkdir -p $(VENV) && touch $@

$(VENV)/.python-packages: $(VENV)/.debian-packages setup.py requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel cython numpy
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-build-isolation -e .
	touch $@

# Rebuilds the kernels in place whenever a .pyx/.pxd/.h changes.
$(VENV)/.kernels-built: $(VENV)/.python-packages $(KERNELS)
	$(PY) setup.py -q build_ext --inplace
	touch $@

clean:
	rm -rf build $(VENV) firmware/dsp/*.c firmware/dsp/*.so bench/results.json
