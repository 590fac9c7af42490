#!/usr/bin/env bash
# Run the whole Anju CRM test suite: lint, formatting, migrations check,
# deployment check, then pytest (arguments are passed to pytest).
#
# PostgreSQL and Redis are throwaway servers on free ports, removed at exit,
# unless DATABASE_URL / REDIS_URL are set (then those are used). A streaming
# replica of that PostgreSQL too, for tests/crm_site/test_replica.py, unless
# DATABASE_REPLICA_URL is set; when the server refuses replication, those skip.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

ANJU_REPORT_ELAPSED=1
anju_init test

random_key() {
  python -c 'import secrets; print(secrets.token_urlsafe(48))'
}

anju_heading "System packages"
# Chromium (used by the Playwright tests through executable_path=/usr/bin/chromium),
# CJK fonts for the screenshots, gettext for the translation catalogs, wrk for the
# throughput bench's load generator (tests/crm_site/test_bench_throughput.py).
ensure_apt_packages chromium fonts-wqy-microhei gettext wrk

anju_heading "Python environment"
anju_ensure_venv test
[[ -f manage.py ]] || anju_die "manage.py not found in $ANJU_ROOT"

anju_heading "PostgreSQL and Redis"
anju_start_services

export DJANGO_SECRET_KEY ID_NUMBER_HASH_KEY
DJANGO_SECRET_KEY=$(random_key)
ID_NUMBER_HASH_KEY=$(random_key)
export DJANGO_DEBUG=false
export DJANGO_SETTINGS_MODULE=crm_site.settings
# Tests read the rows they have just written: reporting reads stay on the primary,
# except in tests/crm_site/test_replica.py, which turns them on (crm_site/replica.py).
export DATABASE_REPLICA_READS="${DATABASE_REPLICA_READS:-false}"

anju_step "ruff check" ruff check .
anju_step "ruff format --check" ruff format --check .
anju_step "makemigrations --check" python manage.py makemigrations --check --dry-run
# Production-like settings, only for this command (env does not leak them).
anju_step "check --deploy" env DJANGO_DEBUG=false DJANGO_SECRET_KEY="$(random_key)" \
  ID_NUMBER_HASH_KEY="$(random_key)" \
  DJANGO_SECURE_HTTPS=true DJANGO_ALLOWED_HOSTS=crm.example.com \
  python manage.py check --deploy --fail-level WARNING

_ANJU_STEP_NO=$((_ANJU_STEP_NO + 1))
anju_heading "[$_ANJU_STEP_NO] pytest $*"
rc=0
# Two processes (pytest-xdist), each with its own test database and cache keys
# (tests/conftest.py); the API tests stay together in one (--dist loadgroup).
python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadgroup "$@" || rc=$?
if ((rc == 5)); then
  anju_log "NOTE: pytest collected no tests (exit status 5); treated as success"
  rc=0
elif ((rc != 0)); then
  anju_log "FAILED: pytest (exit status $rc)"
  exit "$rc"
fi
anju_log "All checks passed"
