# claimlens: `make run` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
SHARED ?= $(abspath ../shared/data)

HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= data

.PHONY: run analyze-demo serve test install install-test demo bench bench-quality bench-speed bench-forensics bench-index bench-api bench-provenance bench-ai clean

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

# The main job on the embedded default (SQLite in ./data, in-process workers): analyse the demo claim,
# then serve the claim service and console with demo data. Ctrl+C stops the server.
run: analyze-demo serve

analyze-demo: demo
	$(BIN)/claimlens analyze demo/claim.jpg --reference demo/listing.jpg --reference demo/packing.jpg --out demo/report

serve: $(STAMP)
	$(BIN)/claimlens demo-seed --data-dir $(DATA) --photos demo > /dev/null
	@echo "Console: http://$(HOST):$(PORT)/console/   API docs: http://$(HOST):$(PORT)/docs"
	@echo "Demo log-ins: reviewer / demo-review-pass   merchant / demo-merchant-pass   buyer / demo-buyer-pass   admin / demo-admin-pass   operator / demo-operator-pass   technician / demo-technician-pass"
	$(BIN)/claimlens serve --data-dir $(DATA) --host $(HOST) --port $(PORT)

test: install-test
	CLAIMLENS_SHARED_DATA=$(SHARED) $(BIN)/python -m pytest

bench: bench-quality bench-speed bench-forensics bench-provenance bench-ai bench-index bench-api

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

bench-provenance: $(STAMP)
	CLAIMLENS_SHARED_DATA=$(SHARED) $(BIN)/python -m bench.provenance

bench-ai: $(STAMP)
	CLAIMLENS_SHARED_DATA=$(SHARED) $(BIN)/python -m bench.ai

clean:
	rm -rf $(VENV) demo out bench/.corpus bench/results
