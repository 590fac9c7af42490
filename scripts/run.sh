#!/usr/bin/env bash
# Start the whole Anju CRM locally: PostgreSQL and Redis (project-local, data
# kept in var/), migrations, static files, demo data, then the page server, a Celery
# worker and Celery beat. Ctrl-C stops everything this script started.
#
# Environment (all optional):
#   HOST, PORT            where the page server listens (default 127.0.0.1:8000)
#   LIVE_PORT             where the event-stream server listens (default PORT + 1)
#   DATABASE_URL          use this database instead of starting PostgreSQL; the demo
#                         data and demo logins are then not loaded into it unless
#                         ANJU_DEMO_DATA=1
#   ANJU_DEMO_DATA        1: load the demo data and demo logins (default for the
#                         project-local database only); 0: do not
#   REDIS_URL             use this Redis instead of starting one
#   DJANGO_SECRET_KEY     default: generated once into var/secret_key
#   ID_NUMBER_HASH_KEY    default: generated once into var/id_number_hash_key
#   DJANGO_DEBUG          default: false
#   DJANGO_ALLOWED_HOSTS  default: localhost,127.0.0.1,$HOST (and [::1] for HOST=::)
#   ANJU_RESTART_MIN_DELAY, ANJU_RESTART_MAX_DELAY, ANJU_RESTART_RESET
#                         back-off of a crashed child, or of the PostgreSQL or
#                         Redis started here (default 1, 30, 60 s)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
LIVE_PORT=${LIVE_PORT:-$((PORT + 1))}
DEMO_PASSWORD="demo-pass-2026"
DEMO_USERS=(consultant consultant2 sales_manager service_agent service_manager marketer executive admin)

anju_init run
anju_find_python
if ! anju_port_bindable "$HOST" "$PORT"; then
  anju_die "$HOST:$PORT is already in use; stop what listens there or choose another port: PORT=8001 scripts/run.sh"
fi
if ! anju_port_bindable "$HOST" "$LIVE_PORT"; then
  anju_die "$HOST:$LIVE_PORT (the event-stream server) is already in use; choose another: LIVE_PORT=9001 scripts/run.sh"
fi

anju_heading "Python environment"
anju_ensure_venv run
[[ -f manage.py ]] || anju_die "manage.py not found in $ANJU_ROOT"

anju_heading "PostgreSQL and Redis"
# Demo data (customers, and logins with the password published in the README, an
# administrator among them) only into the database this script starts itself;
# someone's own database only when asked.
own_database=1
if [[ -n ${DATABASE_URL:-} ]]; then
  own_database=0
fi
case ${ANJU_DEMO_DATA:-} in
  "") demo_data=$own_database ;;
  1 | true | yes) demo_data=1 ;;
  0 | false | no) demo_data=0 ;;
  *) anju_die "ANJU_DEMO_DATA must be 1 (load the demo data and demo logins) or 0 (do not)" ;;
esac
anju_start_services

if [[ -z ${DJANGO_SECRET_KEY:-} ]]; then
  keyfile="$ANJU_VAR/secret_key"
  if [[ ! -s $keyfile ]]; then
    anju_log "Generating a secret key in var/secret_key"
    (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(50))' >"$keyfile")
  fi
  chmod 600 "$keyfile"
  DJANGO_SECRET_KEY=$(<"$keyfile")
fi
export DJANGO_SECRET_KEY
# The identity-number hash key, its own secret: generated once next to the secret key
# and kept (a new one would stop every stored ID hash from matching).
if [[ -z ${ID_NUMBER_HASH_KEY:-} ]]; then
  idkeyfile="$ANJU_VAR/id_number_hash_key"
  if [[ ! -s $idkeyfile ]]; then
    anju_log "Generating the ID-number hash key in var/id_number_hash_key"
    (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(50))' >"$idkeyfile")
  fi
  chmod 600 "$idkeyfile"
  ID_NUMBER_HASH_KEY=$(<"$idkeyfile")
fi
export ID_NUMBER_HASH_KEY
export DJANGO_DEBUG="${DJANGO_DEBUG:-false}"
# Plain http on the local machine: no HTTPS redirect, no secure-only cookies.
export DJANGO_SECURE_HTTPS=false

connect_host=$HOST
case $connect_host in
  0.0.0.0 | "" | "*") connect_host=127.0.0.1 ;;
  ::) connect_host=::1 ;;
esac
url_host=$connect_host
if [[ $url_host == *:* ]]; then
  url_host="[$url_host]"
fi
# The address printed below too ([::1] when HOST is an IPv6 one).
export DJANGO_ALLOWED_HOSTS="${DJANGO_ALLOWED_HOSTS:-localhost,127.0.0.1,$HOST,$url_host}"
export DJANGO_SETTINGS_MODULE=crm_site.settings

anju_step "migrate" python manage.py migrate --noinput
anju_step "collectstatic" python manage.py collectstatic --noinput -v0
if ((demo_data)); then
  anju_step "demo_data" python manage.py demo_data
elif ((own_database)); then
  anju_log "ANJU_DEMO_DATA=0: not loading the demo data and demo logins"
else
  anju_log "DATABASE_URL is set: not loading the demo data and demo logins into that database"
  anju_log "  (ANJU_DEMO_DATA=1 scripts/run.sh loads them: demo customers, and demo users with a published password)"
  anju_log "  Create an administrator, with the same DATABASE_URL set:"
  anju_log "    DJANGO_DEBUG=true .venv/bin/python manage.py createsuperuser"
fi

# The pages open their event streams there, with their cookies (crm_site.live_server).
export LIVE_EVENTS_URL="${LIVE_EVENTS_URL:-http://$url_host:$LIVE_PORT}"
export LIVE_PAGE_ORIGINS="${LIVE_PAGE_ORIGINS:-http://$url_host:$PORT,http://localhost:$PORT,http://127.0.0.1:$PORT}"

anju_heading "Starting the page server, the event-stream server, Celery worker and Celery beat"
# granian serving the pages (scripts/page_server.py), its access log masked.
anju_spawn page-server python "$ANJU_ROOT/scripts/page_server.py" \
  --bind "$(anju_bind_address "$HOST" "$PORT")" --workers 3
# Opening day's event streams (big screen, selection desk, buyers' phones) on a port
# of their own (crm_site.live_server): the pages name it, and a screen's reconnect
# never queues behind the page requests.
anju_spawn live-events gunicorn crm_site.live_server:application \
  --bind "$(anju_bind_address "$HOST" "$LIVE_PORT")" --config "$ANJU_ROOT/scripts/gunicorn_live.conf.py"
anju_spawn celery-worker celery -A crm_site worker --loglevel INFO --concurrency 2
anju_spawn celery-beat celery -A crm_site beat --loglevel INFO \
  --schedule "$ANJU_VAR/celerybeat-schedule"

# Wait until the page server accepts connections (or one of the children dies).
for ((i = 0; i < 300; i++)); do
  if _anju_tcp_open "$connect_host" "$PORT"; then
    break
  fi
  for j in "${!ANJU_CHILD_PIDS[@]}"; do
    _anju_pid_alive "${ANJU_CHILD_PIDS[$j]}" ||
      anju_die "${ANJU_CHILD_NAMES[$j]} exited during startup; see the output above"
  done
  sleep 0.2
done
((i < 300)) || anju_die "the page server did not accept connections on $HOST:$PORT within 60 s"

{
  echo
  echo "================================================================"
  echo " Anju CRM is running: http://$url_host:$PORT/"
  echo " Log in at:           http://$url_host:$PORT/accounts/login/"
  echo
  if ((demo_data)); then
    printf ' %-18s %s\n' "Username" "Password"
    printf ' %-18s %s\n' "------------------" "--------------"
    for user in "${DEMO_USERS[@]}"; do
      printf ' %-18s %s\n' "$user" "$DEMO_PASSWORD"
    done
    echo
    echo " Owner portal:        http://$url_host:$PORT/portal/ (demo owner 138 0013 8888;"
    echo "                      the sign-in code appears in this output: 'sign-in code')"
  else
    echo " No demo data or demo logins were loaded (ANJU_DEMO_DATA=1 loads them)."
    if ((!own_database)); then
      echo " Create an administrator, if there is none yet (with the same DATABASE_URL set):"
      echo "   DJANGO_DEBUG=true .venv/bin/python manage.py createsuperuser"
    fi
  fi
  echo " Data is kept in var/ between starts. Press Ctrl-C to stop."
  echo "================================================================"
  echo
}

# Runs until Ctrl-C or SIGTERM (the exit trap stops everything). A child that
# crashes or is killed is started again with a back-off (1 s doubling to 30 s); so
# are the PostgreSQL and Redis started above (not one stopped on purpose).
anju_supervise_children
