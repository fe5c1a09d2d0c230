# Inklock: `make demo` and `make test` work as the first command on a fresh
# Debian/Ubuntu machine: each installs what is missing first (`make setup`).

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Debian packages the product needs (OCR engine and headers for the in-memory
# binding, PDF rendering, `lp` for print --to-printer) and those the tests need (browser, handwriting fonts).
# python3-venv, python3-dev and g++ build the virtual environment and tesserocr
# on a plain Debian/Ubuntu (Python 3.11 or newer).
# `inklock scan`: SANE and its scanner backends (the tests use its `test` backend);
# libsane-dev builds python-sane against the system library.
SCAN_PACKAGES := sane-utils libsane1 libsane-dev
APT_PACKAGES := python3-venv python3-dev g++ \
	tesseract-ocr tesseract-ocr-eng libtesseract-dev libleptonica-dev pkg-config \
	poppler-utils cups-client chromium chromium-driver fonts-dejavu-core \
	fonts-dkg-handwriting fonts-breip fonts-bwht fonts-femkeklaver fonts-humor-sans \
	fonts-sjfonts fonts-dancingscript fonts-kristi fonts-rufscript fonts-comic-neue \
	$(SCAN_PACKAGES)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup apt venv demo lint test bench bench-small clean

# The project's own modules are compiled here, as pip compiles the packages it installs: where
# Python may not write its caches (PYTHONDONTWRITEBYTECODE), every command would otherwise
# compile them again at start-up (0.2-0.3 s of each ingest's start).
setup: apt venv
	@$(PY) -m compileall -q scanner forms >/dev/null

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# tesserocr is built from source against Debian's libtesseract (5.3.0): the
# PyPI wheel bundles Tesseract 5.5.4, which reads handwriting worse (README).
$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q --no-binary tesserocr -e '.[test]'
	# Only for the model file it bundles (PP-OCRv6 small, scanner/ingest/linerec.py):
	# its own code is never imported, and its dependencies would add a second OpenCV.
	$(PIP) install -q --no-deps rapidocr==3.10.0
	@touch $@

venv: $(VENV)/.installed

demo: setup
	$(VENV)/bin/inklock demo

# Ruff and mypy, configured in pyproject.toml; `make test` (so CI) runs them first.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q

# The benchmark compares against OCRmyPDF, installed here only (not by the product).
bench: setup
	@dpkg -s ghostscript >/dev/null 2>&1 || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ghostscript
	@[ -x $(VENV)/bin/ocrmypdf ] || $(PIP) install -q ocrmypdf
	$(PY) -m bench

bench-small: setup
	$(PY) -m bench --small

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
