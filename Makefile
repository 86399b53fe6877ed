# Instagram Monitor: `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
WEB := services/api/web
# npm ci writes this file last, so its age says whether the lock file changed since.
WEB_INSTALLED := $(WEB)/node_modules/.package-lock.json

.DEFAULT_GOAL := help
.PHONY: help install services migrate rollups test lint format screenshots run api scheduler collector up down logs clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

# The dashboard's browser libraries, from the npm registry (no install scripts run).
$(WEB_INSTALLED): $(WEB)/package.json $(WEB)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: apt-get install npm (bash .ci/run does)" >&2; exit 1; }
	npm ci --prefix $(WEB) --ignore-scripts --no-audit --no-fund --loglevel=error

install: $(INSTALLED) $(WEB_INSTALLED) ## Create .venv, install the project with its dev tools and the dashboard's npm packages

services: ## Start local MariaDB and Redis when they are installed but not answering
	bash deploy/local/ensure-services.sh

migrate: install ## Create the database if needed and migrate it to the latest schema
	$(BIN)/python -m shared.migrate

rollups: install ## Rebuild the hourly and daily roll-ups from the history rows (safe while running)
	$(BIN)/python -m shared.rollups rebuild

test: install ## Run the whole test suite (4 workers) against the local MariaDB and Redis
	$(BIN)/python -m pytest -n 4 --dist loadgroup

lint: install ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services tests bench

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

screenshots: install ## Run the browser tests, leaving their screenshots of each page in docs/screenshots/
	TEST_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -n 2 tests/ui

run: install services migrate ## Run api, scheduler, collector (and the TikHub sandbox without a key)
	$(BIN)/python deploy/local/run.py

api: install ## Run the REST API in the foreground
	$(BIN)/python -m services.api

scheduler: install ## Run the scheduler in the foreground
	$(BIN)/python -m services.scheduler

collector: install ## Run the collector worker in the foreground
	$(BIN)/python -m services.collector

.PHONY: bench-api bench-collector bench-pool bench-scheduler bench-stats bench-dashboard bench-export bench-webhooks bench-faults
bench-api: install ## API benchmark: cached and uncached history reads against a bare route (about 6 minutes)
	$(BIN)/python bench/api.py

bench-stats: install ## Statistics benchmark: user_stats, video_stats and a year by day over long histories (about 5 minutes)
	$(BIN)/python bench/stats.py

bench-collector: install ## Collector benchmark: collections/s and peak memory of one process against the sandbox (about 1 minute)
	$(BIN)/python bench/collector.py

bench-dashboard: install ## Dashboard benchmark: the 1,000-profile table on the server, a year-long chart in Chromium (about 2 minutes)
	$(BIN)/python bench/dashboard.py

bench-export: install ## Export benchmark: 1,000,000 points as CSV and NDJSON, points/s and the API's memory (about 5 minutes)
	$(BIN)/python bench/export.py

bench-pool: install ## TikHub key pool benchmark: collections/s with one key and with two at 20 calls/s each (about 4 minutes)
	$(BIN)/python bench/collector.py --pool-ratio --rate-per-key 20 --jobs 1200 --log-level WARNING

bench-scheduler: install ## Scheduler benchmark: 100,000 due tasks' throughput, then 3 minutes of lateness
	$(BIN)/python bench/scheduler.py

bench-faults: install ## Fault run: Redis and the scheduler killed, a missing target, bad keys, the TikHub rate at the wire (about 7 minutes)
	$(BIN)/python bench/faults.py

bench-webhooks: install ## Webhook benchmark: 1,000 alerts' latency to a local receiver, then a receiver down for 10 minutes (about 45 minutes)
	$(BIN)/python bench/webhooks.py

up: ## Build the image and start everything with docker compose (the sandbox too without a TikHub key)
	sh deploy/compose.sh up --build --detach

down: ## Stop the compose deployment (its data volumes are kept)
	COMPOSE_PROFILES=sandbox sh deploy/compose.sh down

logs: ## Follow the compose deployment's logs
	sh deploy/compose.sh logs --follow --tail=100

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
