# The verbs an operator uses; each is a thin call of the real command. `make help` lists them.
PY ?= .venv/bin/python
STACK ?= dev

.PHONY: help install test
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## Create .venv from requirements.txt (and install PostgreSQL's server if it is missing)
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql)
	python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt

test: ## Run the test suite (PostgreSQL is started by the tests themselves)
	$(PY) -m pytest
