# Thin aliases for the scripts in scripts/ (README: scripts/run.sh, scripts/test.sh).

PYTHON := .venv/bin/python
RUFF := .venv/bin/ruff

.DEFAULT_GOAL := help
.PHONY: help run test lint format messages clean-data venv

help: ## Show this help
	@echo "Anju CRM - make targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-11s %s\n", $$1, $$2}'

run: ## Start the whole CRM (scripts/run.sh): PostgreSQL, Redis, the page server, Celery
	scripts/run.sh

test: ## Run the whole test suite (scripts/test.sh; extra pytest args: PYTEST_ARGS=...)
	scripts/test.sh $(PYTEST_ARGS)

venv: ## Create .venv and install requirements-dev.txt (skipped when up to date)
	scripts/services.sh venv test

lint: venv ## ruff check + ruff format --check
	$(RUFF) check .
	$(RUFF) format --check .

format: venv ## Format and auto-fix the code with ruff
	$(RUFF) format .
	$(RUFF) check --fix .

messages: venv ## Update and compile the zh_Hans translation catalog
	$(PYTHON) manage.py makemessages -l zh_Hans --no-obsolete --no-location && $(PYTHON) manage.py compilemessages -l zh_Hans --ignore=.venv --ignore=var

clean-data: ## Explain how to remove the local data in var/ (removes nothing)
	@echo "Local data (PostgreSQL, Redis, secret key, static files) lives in var/."
	@echo "To start from scratch: stop scripts/run.sh (Ctrl-C), then run:"
	@echo "    scripts/services.sh stop   # only if a killed run.sh left servers or processes running"
	@echo "    rm -rf var/"
