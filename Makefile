# The two commands a newcomer needs: `make demo` and `make test`. Everything else is here for them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.package-lock.json
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Node 20 is past jsii's support window; the banner it prints at every synth says nothing new.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: demo test lint format bench local synth clean help rehearsal images base-image

help:
	@echo "make demo   - set up, then replay the seed's monitoring flow end to end on a local AWS emulation"
	@echo "make test   - set up, then run the test suite"
	@echo "make lint   - the static half of make test: ruff (lint, complexity, format), mypy, bandit"
	@echo "make bench  - the benchmarks in bench/ (figures, not pass/fail)"
	@echo "make local  - start the local stack in the foreground (driftline local up)"
	@echo "make images - build the three images with buildah and start each handler inside (not part of test)"
	@echo "make base-image - the stand-in for Lambda's python:3.12 base that make images builds on (debootstrap)"

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e ".[dev]"
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

demo: $(STAMP)
	$(BIN)/driftline demo

# The Python 3.12 installs the rehearsal tests start each function with (infra/images.py, cached in .cache/images;
# nothing to do when warm). It needs only the standard library, so `make test` runs it beside the venv's install.
rehearsal:
	$(PYTHON) -m infra.images prepare

# The gate: lint (ruff's rules, the C90 complexity limit included), formatting, types over everything that runs
# (pyproject.toml's [tool.mypy] files; .mypy_cache makes a repeated run take seconds), bandit, then the suite.
test:
	@$(MAKE) --no-print-directory -j3 $(STAMP) $(NODE_STAMP) rehearsal
	@$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# Not part of `make test`: builds the three images with buildah from the contexts cdk deploy builds, on the stand-in
# base when `make base-image` made one (Lambda's own base cannot be pulled here), then starts each handler inside
# the image through its runtime client and prints the sizes (infra/README.md, "Rehearsing the images").
images:
	$(PYTHON) -m infra.images build

base-image:
	$(PYTHON) -m infra.images base-image

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/bandit -q -c .bandit.yaml -b .bandit-baseline.json -r driftline lambdas apps infra

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

synth: $(STAMP) $(NODE_STAMP)
	npx --no-install cdk synth --quiet

local: $(STAMP)
	$(BIN)/driftline local up

clean:
	rm -rf $(VENV) node_modules cdk.out driftline-demo .pytest_cache .ruff_cache .mypy_cache .cache
