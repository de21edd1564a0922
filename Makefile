# claimlens: `make run` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
SHARED ?= $(abspath ../shared/data)

.PHONY: run test install install-test demo bench bench-quality bench-speed bench-forensics bench-index bench-api clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml requirements.lock
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(STAMP)

install-test: $(TEST_STAMP)
	@bash scripts/ensure-fonts.sh || echo "no CJK font available: visible-label tests that draw Chinese text will be skipped"
	@bash scripts/ensure-browser.sh || echo "chromium not available: browser tests will be skipped"

demo: $(STAMP)
	$(BIN)/python -m bench.demo --out demo

run: demo
	$(BIN)/claimlens analyze demo/claim.jpg --reference demo/listing.jpg --reference demo/packing.jpg --out demo/report

test: install-test
	CLAIMLENS_SHARED_DATA=$(SHARED) $(BIN)/python -m pytest

bench: bench-quality bench-speed bench-forensics bench-index

bench-quality: $(STAMP)
	CLAIMLENS_SHARED_DATA=$(SHARED) $(BIN)/python -m bench.quality

bench-speed: $(STAMP)
	CLAIMLENS_SHARED_DATA=$(SHARED) $(BIN)/python -m bench.speed

bench-forensics: $(STAMP)
	CLAIMLENS_SHARED_DATA=$(SHARED) $(BIN)/python -m bench.forensics

bench-index: $(STAMP)
	CLAIMLENS_SHARED_DATA=$(SHARED) $(BIN)/python -m bench.index

bench-api: $(STAMP)
	$(BIN)/python -m bench.api

clean:
	rm -rf $(VENV) demo out bench/.corpus
