#!/usr/bin/env bash
# Debug entry point for the service layer used by scripts/run.sh and
# scripts/test.sh: project-local PostgreSQL and Redis on free ports.
#
#   scripts/services.sh start [run|test]  start them (unless DATABASE_URL /
#                                         REDIS_URL are set; test: a streaming
#                                         replica too), print the export
#                                         lines, keep running until Ctrl-C
#   scripts/services.sh check [run|test]  start them, connect with psql and
#                                         redis PING over the URLs, stop again
#   scripts/services.sh status            show the run-mode servers kept in var/
#   scripts/services.sh stop              stop run-mode servers and children
#                                         (page server, worker, beat) left
#                                         running by a run.sh killed with -9
#   scripts/services.sh venv [run|test]   create .venv and install requirements
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

mode_arg() {
  case ${1:-run} in
    run | test) echo "${1:-run}" ;;
    *) usage ;;
  esac
}

# Locations a run-mode PostgreSQL may live in: var/postgres, or the /tmp
# fallback used when the postgres user cannot reach the repository.
run_pg_bases() {
  local hash
  hash=$(printf '%s' "$ANJU_ROOT" | sha256sum | cut -c1-12)
  for base in "$ANJU_VAR/postgres" "/tmp/anju-crm-$hash/postgres"; do
    if [[ -f $base/data/PG_VERSION ]]; then
      echo "$base"
    fi
  done
}

owner_note() {
  local owner
  owner=$(cat "$1/owner.pid" 2>/dev/null || true)
  if [[ -n $owner ]] && _anju_pid_alive "$owner" '(run|services|test)\.sh'; then
    echo "owned by running script $owner"
  else
    echo "no running owner"
  fi
}

cmd_status() {
  local base pid port
  while IFS= read -r base; do
    pid=$(sed -n 1p "$base/data/postmaster.pid" 2>/dev/null || true)
    port=$(sed -n 4p "$base/data/postmaster.pid" 2>/dev/null || true)
    if _anju_pid_alive "$pid" postgres; then
      echo "PostgreSQL: running, pid $pid, port $port, data $base/data ($(owner_note "$base"))"
    else
      echo "PostgreSQL: stopped, data $base/data"
    fi
  done < <(run_pg_bases)
  pid=$(cat "$ANJU_VAR/redis/redis.pid" 2>/dev/null || true)
  if _anju_pid_alive "$pid" redis-server; then
    echo "Redis: running, pid $pid, port $(cat "$ANJU_VAR/redis/port" 2>/dev/null), data $ANJU_VAR/redis ($(owner_note "$ANJU_VAR/redis"))"
  elif [[ -d $ANJU_VAR/redis ]]; then
    echo "Redis: stopped, data $ANJU_VAR/redis"
  fi
}

cmd_stop() {
  local base pid owner sockdir
  ANJU_MODE=run
  # The page server, event-stream server, worker and beat of a killed run.sh
  # (var/run/children.<pid>) first: they use the servers stopped below.
  _anju_reap_stale_children legacy
  while IFS= read -r base; do
    pid=$(sed -n 1p "$base/data/postmaster.pid" 2>/dev/null || true)
    _anju_pid_alive "$pid" postgres || continue
    owner=$(cat "$base/owner.pid" 2>/dev/null || true)
    if [[ -n $owner ]] && _anju_pid_alive "$owner" '(run|services|test)\.sh'; then
      anju_warn "PostgreSQL in $base is owned by the running script $owner; stop that one (Ctrl-C) instead"
      continue
    fi
    _anju_find_pg_bin "$(cat "$base/data/PG_VERSION")" || anju_die "PostgreSQL binaries not found"
    ANJU_PG_BASE=$base
    ANJU_PG_DATA="$base/data"
    ANJU_PG_PORT=$(sed -n 4p "$base/data/postmaster.pid")
    ANJU_PG_STARTED=1
    # Its socket directory, when the data path could not hold the socket.
    sockdir=$(sed -n 5p "$base/data/postmaster.pid")
    _anju_stop_postgres
    if [[ $sockdir =~ ^/tmp/anju-pgsock\.[A-Za-z0-9]+$ && -d $sockdir && ! -L $sockdir ]]; then
      rm -rf -- "$sockdir"
    fi
  done < <(run_pg_bases)
  pid=$(cat "$ANJU_VAR/redis/redis.pid" 2>/dev/null || true)
  if _anju_pid_alive "$pid" redis-server; then
    owner=$(cat "$ANJU_VAR/redis/owner.pid" 2>/dev/null || true)
    if [[ -n $owner ]] && _anju_pid_alive "$owner" '(run|services|test)\.sh'; then
      anju_warn "Redis in $ANJU_VAR/redis is owned by the running script $owner; stop that one (Ctrl-C) instead"
    else
      ANJU_REDIS_DIR="$ANJU_VAR/redis"
      ANJU_REDIS_PID=$pid
      ANJU_REDIS_PORT=$(cat "$ANJU_VAR/redis/port" 2>/dev/null || true)
      ANJU_REDIS_STARTED=1
      _anju_stop_redis
    fi
  fi
}

print_exports() {
  printf 'export DATABASE_URL=%q\n' "${DATABASE_URL:-}"
  printf 'export REDIS_URL=%q\n' "${REDIS_URL:-}"
  if [[ -n ${DATABASE_REPLICA_URL:-} ]]; then
    printf 'export DATABASE_REPLICA_URL=%q\n' "$DATABASE_REPLICA_URL"
  fi
}

cmd_check() {
  local psql redis_ok
  psql=${ANJU_PSQL:-$(command -v psql || true)}
  anju_heading "psql $(_anju_url_shown "$DATABASE_URL")"
  [[ -n $psql ]] || anju_die "psql not found"
  # The passwords in psql's environment (PGPASSWORD), not on its command line, which
  # every local account may read (ps).
  PGCONNECT_TIMEOUT=5 _anju_pg_with "$DATABASE_URL" "$psql" -X -v ON_ERROR_STOP=1 @url -tA \
    -c "SELECT current_database() || ' on port ' || inet_server_port() || ', ' || version()"
  if [[ -n ${DATABASE_REPLICA_URL:-} ]]; then
    anju_heading "psql $(_anju_url_shown "$DATABASE_REPLICA_URL")"
    PGCONNECT_TIMEOUT=5 _anju_pg_with "$DATABASE_REPLICA_URL" "$psql" -X -v ON_ERROR_STOP=1 @url -tA \
      -c "SELECT current_database() || ' on port ' || inet_server_port() || ', in recovery: ' || pg_is_in_recovery()"
  fi
  anju_heading "PING $(_anju_url_shown "$REDIS_URL")"
  # The URL (and its password) in the environment, not on a command line.
  redis_ok=$(ANJU_CHECK_URL=$REDIS_URL "$ANJU_PYTHON" - <<'EOF'
import os
import socket
from urllib.parse import unquote, urlsplit

u = urlsplit(os.environ["ANJU_CHECK_URL"])


def command(*parts):
    out = b"*%d\r\n" % len(parts)
    for part in parts:
        out += b"$%d\r\n%s\r\n" % (len(part.encode()), part.encode())
    return out


with socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=5) as s:
    replies = s.makefile("rb")
    if u.password is not None:
        user = unquote(u.username or "")
        auth = ("AUTH", user, unquote(u.password)) if user else ("AUTH", unquote(u.password))
        s.sendall(command(*auth))
        print(replies.readline().decode().strip())
    s.sendall(command("PING"))
    print(replies.readline().decode().strip().lstrip("+"))
EOF
  )
  echo "$redis_ok"
  [[ ${redis_ok##*$'\n'} == PONG ]] || anju_die "Redis did not answer PONG"
  anju_log "Service check passed"
}

command=${1:-}
case $command in
  start)
    anju_init "$(mode_arg "${2:-}")"
    anju_start_services
    print_exports
    anju_log "Services are up; press Ctrl-C to stop the ones started here"
    # A child that only sleeps, so that we can wait interruptibly.
    anju_spawn keepalive sleep infinity
    anju_wait_children || true
    ;;
  check)
    anju_init "$(mode_arg "${2:-}")"
    anju_start_services
    print_exports
    cmd_check
    ;;
  status)
    cmd_status
    ;;
  stop)
    cmd_stop
    ;;
  venv)
    mode=$(mode_arg "${2:-}")
    cd -- "$ANJU_ROOT"
    anju_ensure_venv "$mode"
    ;;
  *)
    usage
    ;;
esac
