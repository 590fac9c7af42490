#!/usr/bin/env bash
# shellcheck shell=bash
#
# Shared provisioning helpers for scripts/run.sh, scripts/test.sh and
# scripts/services.sh. This file is meant to be sourced; sourcing it only
# defines variables and functions.
#
# Entry points:
#   anju_init MODE            MODE is "run" or "test": cd to the repo root and
#                             install the EXIT/INT/TERM/HUP traps (cleanup).
#                             Run mode: one start per checkout (var/run/run.lock);
#                             a second one stops with "already running (pid N)".
#   anju_bind_address H P     H:P for a server's --bind, [H]:P for an IPv6 host.
#   ensure_apt_packages PKG.. install missing Debian packages (root only).
#   anju_find_python          set ANJU_PYTHON to a Python >= 3.11.
#   anju_ensure_venv MODE     create .venv and pip-install the requirements
#                             (skipped when the stamp says they are installed).
#   anju_start_services       PostgreSQL and Redis, unless DATABASE_URL /
#                             REDIS_URL are already set; exports both URLs.
#                             Test mode: also a streaming replica of that
#                             PostgreSQL, unless DATABASE_REPLICA_URL is set;
#                             exports DATABASE_REPLICA_URL when it runs.
#   anju_spawn NAME CMD..     start a long-running child in its own process group.
#   anju_wait_children        block until one of the children exits.
#   anju_supervise_children   keep the children running (restart with back-off)
#                             until a signal stops the script; in run mode, the
#                             PostgreSQL and Redis it started too.
#
# Everything this library starts is stopped again by the exit trap, and only
# what it started: servers reused from another running script are left alone.

if [[ -n "${_ANJU_LIB_LOADED:-}" ]]; then
  return 0
fi
_ANJU_LIB_LOADED=1

ANJU_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
ANJU_VENV="$ANJU_ROOT/.venv"
ANJU_VAR="$ANJU_ROOT/var"
ANJU_DB_NAME="anju"
ANJU_MODE=""
ANJU_PYTHON=""
ANJU_TMP=""            # throwaway directory (test mode), removed at exit
ANJU_EXTRA_TMP=()      # further directories removed at exit
ANJU_CHILD_PIDS=()     # long-running children, each the leader of its own process group
ANJU_CHILD_NAMES=()    #   ("" while a crashed child waits for its restart)
ANJU_CHILD_CMDS=()     # each child's command, shell-quoted, to start it again
ANJU_CHILD_STARTED=()  # $SECONDS when each was (re)started
ANJU_CHILD_DELAY=()    # back-off before its next restart
ANJU_CHILD_RESTART_AT=()
ANJU_CHILD_RESTARTS=0
ANJU_RESTART_MIN_DELAY=${ANJU_RESTART_MIN_DELAY:-1}  # seconds; doubles per crash
ANJU_RESTART_MAX_DELAY=${ANJU_RESTART_MAX_DELAY:-30}
ANJU_RESTART_RESET=${ANJU_RESTART_RESET:-60}  # up this long: back-off starts over
_ANJU_SLEEP_PID=""
ANJU_CHILDREN_FILE=""  # run mode: var/run/children.<pid>, to clean up after a kill -9
ANJU_LOCK_FD=""        # run mode: the open var/run/run.lock (flock), one start per checkout
ANJU_PG_BIN=""         # directory holding initdb, pg_ctl, postgres
ANJU_PSQL=""
ANJU_PG_BASE=""        # holds data/, postgres.log, owner.pid and (usually) the socket
ANJU_PG_DATA=""
ANJU_PG_PORT=""
ANJU_PG_STARTED=0      # 1 when this script must stop PostgreSQL at exit
ANJU_PG_PASSWORD=""    # the superuser's password (ANJU_PG_BASE/password)
ANJU_PG_SOCKDIR=""     # its Unix socket directory (when started here)
ANJU_REPLICA_DATA=""   # test mode: the streaming replica's data directory
ANJU_REPLICA_PORT=""
ANJU_REPLICA_STARTED=0 # 1 when this script must stop the replica at exit
ANJU_REDIS_DIR=""
ANJU_REDIS_PORT=""
ANJU_REDIS_PID=""
ANJU_REDIS_STARTED=0   # 1 when this script must stop Redis at exit
ANJU_REDIS_PASSWORD="" # its requirepass (ANJU_REDIS_DIR/password)
ANJU_REPORT_ELAPSED=0  # 1: print the total run time at exit
ANJU_START_SECONDS=$SECONDS
_ANJU_APT_UPDATED=0
_ANJU_CLEANED=0

# --- Messages -----------------------------------------------------------------

# Messages go to stderr; a closed stderr (e.g. `| tee` killed by Ctrl-C) must
# not abort the cleanup, hence the `|| true`.
anju_log() { printf '[anju] %s\n' "$*" >&2 || true; }
anju_warn() { printf '[anju] WARNING: %s\n' "$*" >&2 || true; }
anju_die() {
  printf '[anju] ERROR: %s\n' "$*" >&2 || true
  exit 1
}
anju_heading() { printf '\n==> %s\n' "$*" >&2 || true; }

_anju_is_root() { [[ ${EUID:-$(id -u)} -eq 0 ]]; }

# --- Process helpers -------------------------------------------------------------

# True when PID exists, is not a zombie and its command line matches the
# extended regex PATTERN (optional).
_anju_pid_alive() {
  local pid=$1 pattern=${2:-} stat cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]] || return 1
  if [[ -n $pattern ]]; then
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmdline =~ $pattern ]] || return 1
  fi
  return 0
}

# True when a non-zombie process of process group PGID has a command line
# matching the extended regex PATTERN.
_anju_group_matches() {
  local pgid=$1 pattern=$2 f stat fields cmdline
  for f in /proc/[0-9]*/stat; do
    stat=$(cat "$f" 2>/dev/null) || continue
    stat=${stat##*) }
    read -r -a fields <<<"$stat"
    [[ ${fields[0]} != Z && ${fields[2]} == "$pgid" ]] || continue
    cmdline=$(tr '\0' ' ' <"${f%/stat}/cmdline" 2>/dev/null) || continue
    if [[ $cmdline =~ $pattern ]]; then
      return 0
    fi
  done
  return 1
}

# True when some non-zombie process belongs to one of the process groups given.
_anju_groups_alive() {
  local f stat fields pgid
  for f in /proc/[0-9]*/stat; do
    stat=$(cat "$f" 2>/dev/null) || continue
    stat=${stat##*) }
    read -r -a fields <<<"$stat"
    [[ ${fields[0]} != Z ]] || continue
    for pgid in "$@"; do
      if [[ ${fields[2]} == "$pgid" ]]; then
        return 0
      fi
    done
  done
  return 1
}

# Wait up to TIMEOUT seconds for PID (not our child) to disappear.
_anju_wait_pid_gone() {
  local pid=$1 timeout=$2 deadline
  deadline=$((SECONDS + timeout))
  while _anju_pid_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      return 1
    fi
    sleep 0.2
  done
  return 0
}

# True when something accepts TCP connections on HOST:PORT.
_anju_tcp_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# HOST:PORT as the servers' --bind takes it: an IPv6 host in brackets ([::]:8001).
anju_bind_address() {
  local host=$1 port=$2
  if [[ $host == *:* && $host != \[*\] ]]; then
    host="[$host]"
  fi
  printf '%s:%s\n' "$host" "$port"
}

# Field 22 of /proc/PID/stat: when PID started, in clock ticks since boot. With
# the boot id, it tells a process apart from a later one given the same id.
_anju_pid_start_time() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  read -r -a fields <<<"$stat"
  # Fields counted from 3 (state) after the command name.
  echo "${fields[19]}"
}

_anju_boot_id() {
  cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown
}

# Print a free TCP port on 127.0.0.1 (the kernel picks it: bind to port 0).
anju_free_port() {
  "$ANJU_PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# True when HOST:PORT can be bound (with SO_REUSEADDR, as the servers bind).
anju_port_bindable() {
  "$ANJU_PYTHON" - "$1" "$2" <<'EOF'
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((host, port))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
}

# --- Debian packages ---------------------------------------------------------------

_anju_pkg_installed() {
  # shellcheck disable=SC2016  # ${Status} is a dpkg-query format field
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'
}

_anju_apt_update_once() {
  if ((_ANJU_APT_UPDATED == 0)); then
    anju_log "Running apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q || anju_die "apt-get update failed"
    _ANJU_APT_UPDATED=1
  fi
}

# ensure_apt_packages PKG...: install the Debian packages that are missing.
ensure_apt_packages() {
  local missing=() pkg
  if ! command -v dpkg-query >/dev/null 2>&1; then
    anju_die "dpkg not found (not Debian/Ubuntu?): make sure these are installed: $*"
  fi
  for pkg in "$@"; do
    _anju_pkg_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if ! _anju_is_root; then
    anju_die "missing Debian packages: ${missing[*]}
    install them, then run this script again:
      sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
  fi
  command -v apt-get >/dev/null 2>&1 || anju_die "apt-get not found; install: ${missing[*]}"
  _anju_apt_update_once
  anju_log "Installing Debian packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    anju_die "apt-get install ${missing[*]} failed"
}

# --- Python and the virtualenv --------------------------------------------------------

anju_find_python() {
  local cand exe
  if [[ -n $ANJU_PYTHON ]]; then
    return 0
  fi
  for cand in python3.13 python3.12 python3.11 python3; do
    command -v "$cand" >/dev/null 2>&1 || continue
    # pyenv shims exist for versions that are not selected and then fail: skip those.
    exe=$("$cand" -c 'import sys; print(sys.executable if sys.version_info >= (3, 11) else "")' 2>/dev/null) || continue
    if [[ -n $exe && -x $exe ]]; then
      ANJU_PYTHON=$exe
      return 0
    fi
  done
  anju_die "Python >= 3.11 not found (looked for python3.13, python3.12, python3.11, python3)"
}

_anju_venv_ok() {
  [[ -x $ANJU_VENV/bin/python ]] &&
    "$ANJU_VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1 &&
    "$ANJU_VENV/bin/python" -m pip --version >/dev/null 2>&1
}

_anju_create_venv() {
  local ver pkg
  anju_find_python
  rm -rf -- "$ANJU_VENV"
  anju_log "Creating the virtualenv .venv with $ANJU_PYTHON"
  if "$ANJU_PYTHON" -m venv "$ANJU_VENV"; then
    return 0
  fi
  rm -rf -- "$ANJU_VENV"
  ver=$("$ANJU_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if ! _anju_is_root || ! command -v apt-get >/dev/null 2>&1; then
    anju_die "'$ANJU_PYTHON -m venv' failed; install the venv module
    (Debian/Ubuntu: sudo apt-get install python3-venv python$ver-venv) and run this script again"
  fi
  # Debian splits venv/ensurepip out of the interpreter package.
  _anju_apt_update_once
  pkg=python3-venv
  if apt-cache show "python$ver-venv" >/dev/null 2>&1; then
    pkg="python$ver-venv"
  fi
  ensure_apt_packages "$pkg"
  anju_log "Retrying: creating the virtualenv .venv"
  if ! "$ANJU_PYTHON" -m venv "$ANJU_VENV"; then
    rm -rf -- "$ANJU_VENV"
    anju_die "'$ANJU_PYTHON -m venv' still fails after installing $pkg"
  fi
}

_anju_hash_files() {
  local f
  for f in "$@"; do
    [[ -f $ANJU_ROOT/$f ]] || anju_die "$f not found in $ANJU_ROOT"
  done
  (cd -- "$ANJU_ROOT" && sha256sum -- "$@") | sha256sum | cut -d' ' -f1
}

# anju_ensure_venv run|test: .venv with requirements.txt (run) or
# requirements-dev.txt (test). The pip step is skipped when the stamp file
# .venv/.anju-requirements records the sha256 of the requirement files.
anju_ensure_venv() {
  local mode=$1 stamp="$ANJU_VENV/.anju-requirements" key_run key_dev want reqfile line
  local keep=()
  if ! _anju_venv_ok; then
    _anju_create_venv
  fi
  export VIRTUAL_ENV="$ANJU_VENV"
  export PATH="$ANJU_VENV/bin:$PATH"
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
  ANJU_PYTHON="$ANJU_VENV/bin/python"

  key_run="runtime $(_anju_hash_files requirements.txt)"
  key_dev="dev $(_anju_hash_files requirements.txt requirements-dev.txt)"
  if [[ $mode == test ]]; then
    want=$key_dev
    reqfile=requirements-dev.txt
  else
    want=$key_run
    reqfile=requirements.txt
  fi
  # The dev set includes the runtime set, so it satisfies run mode too.
  if [[ -f $stamp ]] && { grep -qxF -- "$want" "$stamp" ||
    { [[ $mode == run ]] && grep -qxF -- "$key_dev" "$stamp"; }; }; then
    anju_log "Python requirements up to date ($reqfile, stamp in .venv)"
    return 0
  fi
  anju_log "Installing Python requirements from $reqfile"
  "$ANJU_VENV/bin/python" -m pip install -q -r "$ANJU_ROOT/$reqfile" ||
    anju_die "pip install -r $reqfile failed"
  if [[ -f $stamp ]]; then
    while IFS= read -r line; do
      if [[ ($line == "$key_run" || $line == "$key_dev") && $line != "$want" ]]; then
        keep+=("$line")
      fi
    done <"$stamp"
  fi
  keep+=("$want")
  printf '%s\n' "${keep[@]}" >"$stamp"
}

# --- PostgreSQL -----------------------------------------------------------------------

_anju_find_pg_bin() {
  local d v best="" bestv=-1 want=${1:-}
  if [[ -n $want && -x /usr/lib/postgresql/$want/bin/initdb ]]; then
    ANJU_PG_BIN="/usr/lib/postgresql/$want/bin"
    return 0
  fi
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] || continue
    v=${d#/usr/lib/postgresql/}
    v=${v%/bin}
    [[ $v =~ ^[0-9]+$ ]] || continue
    if ((v > bestv)); then
      bestv=$v
      best=$d
    fi
  done
  if [[ -z $best ]] && command -v pg_ctl >/dev/null 2>&1; then
    d=$(dirname -- "$(command -v pg_ctl)")
    if [[ -x $d/initdb && -x $d/postgres ]]; then
      best=$d
    fi
  fi
  if [[ -z $best ]]; then
    return 1
  fi
  ANJU_PG_BIN=$best
}

# Run a PostgreSQL server program: as the postgres user when we are root
# (the server refuses to run as root), from a directory every user can read.
_anju_pg_run() {
  if _anju_is_root; then
    (cd / && _anju_without_lock runuser -u postgres -- "$@")
  else
    (cd / && _anju_without_lock "$@")
  fi
}

_anju_psql() {
  PGPASSWORD=$ANJU_PG_PASSWORD PGCONNECT_TIMEOUT=5 \
    "$ANJU_PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$ANJU_PG_PORT" -U postgres "$@"
}

# Print the password kept in FILE, generating it first when there is none
# (0600, like var/secret_key; hex: no quoting in URLs and configuration files).
_anju_password_file() {
  local file=$1
  if [[ ! -s $file ]]; then
    (umask 077 && "$ANJU_PYTHON" -c 'import secrets; print(secrets.token_hex(24))' >"$file") ||
      anju_die "cannot write $file"
  fi
  chmod 600 "$file"
  cat -- "$file"
}

# The local servers ask for a password: every account on the machine may
# connect to 127.0.0.1 (and PostgreSQL's socket), only this one reads var/.
# PostgreSQL data initialised with --auth=trust by an earlier version of this
# script gets the password and scram-sha-256 in pg_hba.conf once it is up.
_anju_pg_require_password() {
  local hba="$ANJU_PG_DATA/pg_hba.conf"
  if ! grep -qE '^[[:space:]]*(local|host)[[:space:]].*[[:space:]]trust[[:space:]]*$' "$hba"; then
    return 0
  fi
  anju_log "Setting a password on PostgreSQL in $ANJU_PG_DATA (it trusted every local account)"
  # The statement on psql's input: a -c argument would show the password to ps.
  _anju_psql -d postgres >/dev/null <<EOF || anju_die "cannot set the PostgreSQL password"
SET password_encryption = 'scram-sha-256';
ALTER ROLE postgres PASSWORD '$ANJU_PG_PASSWORD';
EOF
  _anju_pg_run sed -i -E 's/^([[:space:]]*(local|host)[[:space:]].*[[:space:]])trust([[:space:]]*)$/\1scram-sha-256\3/' "$hba" ||
    anju_die "cannot rewrite $hba"
  _anju_psql -d postgres -tA -c 'SELECT pg_reload_conf()' >/dev/null ||
    anju_die "PostgreSQL did not reload $hba"
}

# Pick ANJU_PG_BASE; when root, make sure the postgres user can reach it.
_anju_pg_choose_base() {
  local base fallback hash
  if [[ $ANJU_MODE == run ]]; then
    base="$ANJU_VAR/postgres"
  else
    base="$ANJU_TMP/postgres"
  fi
  mkdir -p -- "$base"
  if _anju_is_root; then
    id -u postgres >/dev/null 2>&1 ||
      anju_die "user 'postgres' does not exist (install PostgreSQL from the Debian packages: apt-get install postgresql)"
    command -v runuser >/dev/null 2>&1 || anju_die "runuser (util-linux) is required to start PostgreSQL as root"
    if ! runuser -u postgres -- test -x "$(dirname -- "$base")"; then
      rmdir -- "$base" 2>/dev/null || true
      if [[ $ANJU_MODE == run ]]; then
        hash=$(printf '%s' "$ANJU_ROOT" | sha256sum | cut -c1-12)
        fallback="/tmp/anju-crm-$hash"
        mkdir -p -- "$fallback"
        [[ -O $fallback && ! -L $fallback ]] || anju_die "$fallback exists and is not owned by $(id -un)"
        chmod 755 "$fallback"
        anju_warn "the postgres user cannot reach $(dirname -- "$base");
    keeping the PostgreSQL data in $fallback/postgres instead (lost if /tmp is wiped)"
        base="$fallback/postgres"
      else
        fallback=$(mktemp -d /tmp/anju-test-pg.XXXXXX)
        chmod 755 "$fallback"
        ANJU_EXTRA_TMP+=("$fallback")
        base="$fallback/postgres"
      fi
      mkdir -p -- "$base"
    fi
    chown postgres: "$base"
  fi
  # Its log and (usually) its socket: for the server's account only.
  chmod 700 "$base"
  ANJU_PG_BASE=$base
  ANJU_PG_DATA="$base/data"
}

# A run-mode server from a previous start may still be running: reuse it, or
# clean up its postmaster.pid when that process is gone. Sets ANJU_PG_PORT on reuse.
_anju_pg_reuse_running() {
  local pidfile="$ANJU_PG_DATA/postmaster.pid" pid port sockdir owner i
  [[ -f $pidfile ]] || return 0
  pid=$(sed -n 1p "$pidfile")
  port=$(sed -n 4p "$pidfile")
  sockdir=$(sed -n 5p "$pidfile")
  if ! _anju_pid_alive "$pid" 'postgres'; then
    anju_log "Removing stale $pidfile (process $pid is gone)"
    rm -f -- "$pidfile"
    return 0
  fi
  [[ $port =~ ^[0-9]+$ ]] || anju_die "cannot read the port from $pidfile (server pid $pid)"
  ANJU_PG_PORT=$port
  for ((i = 0; i < 60; i++)); do
    if _anju_psql -d postgres -tA -c 'SELECT 1' >/dev/null 2>&1; then
      break
    fi
    sleep 0.5
  done
  ((i < 60)) || anju_die "PostgreSQL (pid $pid, port $port) is running but not accepting connections; see $ANJU_PG_BASE/postgres.log"
  owner=$(cat "$ANJU_PG_BASE/owner.pid" 2>/dev/null || true)
  if [[ -n $owner && $owner != "$$" ]] && _anju_pid_alive "$owner" '(run|services|test)\.sh'; then
    anju_log "Reusing PostgreSQL on port $port (pid $pid), owned by the running script $owner"
  else
    anju_log "Reusing PostgreSQL on port $port (pid $pid) left by a previous start; stopping it at exit"
    ANJU_PG_STARTED=1
    echo "$$" >"$ANJU_PG_BASE/owner.pid"
    if [[ $sockdir == /tmp/anju-pgsock.* ]]; then
      ANJU_EXTRA_TMP+=("$sockdir")
    fi
  fi
}

_anju_pg_initdb() {
  local locale=C.UTF-8 log="$ANJU_PG_BASE/initdb.log"
  if command -v locale >/dev/null 2>&1 && ! locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
    locale=C
  fi
  anju_log "Initialising PostgreSQL data in $ANJU_PG_DATA"
  rm -rf -- "$ANJU_PG_DATA"
  # The password from its file (not on a command line others may read).
  if ! _anju_pg_run "$ANJU_PG_BIN/initdb" -D "$ANJU_PG_DATA" -U postgres --auth=scram-sha-256 \
    --pwfile="$ANJU_PG_BASE/password" -E UTF8 --locale="$locale" >"$log" 2>&1; then
    if [[ $locale == C ]]; then
      cat -- "$log" >&2
      anju_die "initdb failed"
    fi
    anju_warn "initdb with locale C.UTF-8 failed; retrying with locale C"
    rm -rf -- "$ANJU_PG_DATA"
    if ! _anju_pg_run "$ANJU_PG_BIN/initdb" -D "$ANJU_PG_DATA" -U postgres --auth=scram-sha-256 \
      --pwfile="$ANJU_PG_BASE/password" -E UTF8 --locale=C >"$log" 2>&1; then
      cat -- "$log" >&2
      anju_die "initdb failed"
    fi
  fi
}

# Set ANJU_PG_SOCKDIR: the Unix socket next to the data (ANJU_PG_BASE), unless
# the path is too long for a socket (limit ~107 bytes) or would need quoting
# inside pg_ctl -o. Not in a $(...) subshell: it may add to ANJU_EXTRA_TMP.
_anju_pg_choose_sockdir() {
  ANJU_PG_SOCKDIR=$ANJU_PG_BASE
  if ((${#ANJU_PG_SOCKDIR} > 80)) || [[ ! $ANJU_PG_SOCKDIR =~ ^[A-Za-z0-9_./-]+$ ]]; then
    ANJU_PG_SOCKDIR=$(mktemp -d /tmp/anju-pgsock.XXXXXX)
    chmod 755 "$ANJU_PG_SOCKDIR"
    ANJU_EXTRA_TMP+=("$ANJU_PG_SOCKDIR")
  fi
}

# Replication connections from the socket and the loopback, with the password
# like the others (initdb --auth=scram-sha-256 writes these lines already; made
# sure of here).
_anju_pg_allow_replication() {
  local hba="$ANJU_PG_DATA/pg_hba.conf"
  if ! grep -qE '^[[:space:]]*local[[:space:]]+replication[[:space:]]' "$hba"; then
    echo "local   replication     all                                     scram-sha-256" >>"$hba"
  fi
  if ! grep -qE '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32' "$hba"; then
    echo "host    replication     all             127.0.0.1/32            scram-sha-256" >>"$hba"
  fi
}

_anju_start_postgres() {
  local ver sockdir opts log
  _anju_pg_choose_base
  ver=""
  if [[ -f $ANJU_PG_DATA/PG_VERSION ]]; then
    ver=$(cat "$ANJU_PG_DATA/PG_VERSION")
  fi
  if ! _anju_find_pg_bin "$ver"; then
    ensure_apt_packages postgresql
    _anju_find_pg_bin "$ver" || anju_die "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin)"
  fi
  if [[ -n $ver && $("$ANJU_PG_BIN/postgres" --version) != *" $ver"* ]]; then
    anju_die "$ANJU_PG_DATA was created by PostgreSQL $ver, but only $("$ANJU_PG_BIN/postgres" --version) is installed;
    install PostgreSQL $ver or move $ANJU_PG_BASE away"
  fi
  if [[ -x $ANJU_PG_BIN/psql ]]; then
    ANJU_PSQL="$ANJU_PG_BIN/psql"
  elif command -v psql >/dev/null 2>&1; then
    ANJU_PSQL=$(command -v psql)
  else
    ensure_apt_packages postgresql-client
    ANJU_PSQL=$(command -v psql) || anju_die "psql not found"
  fi

  if [[ -f $ANJU_PG_DATA/PG_VERSION && ! -s $ANJU_PG_BASE/password ]] &&
    ! grep -qE '^[[:space:]]*(local|host)[[:space:]].*[[:space:]]trust[[:space:]]*$' "$ANJU_PG_DATA/pg_hba.conf"; then
    anju_die "$ANJU_PG_DATA asks for a password, and $ANJU_PG_BASE/password (where it is kept) is gone;
    restore that file, or move $ANJU_PG_BASE away to start with an empty database"
  fi
  ANJU_PG_PASSWORD=$(_anju_password_file "$ANJU_PG_BASE/password")
  if _anju_is_root; then
    chown postgres: "$ANJU_PG_BASE/password" # initdb --pwfile reads it as that user
  fi
  if [[ $ANJU_MODE == run ]]; then
    _anju_pg_reuse_running
  fi
  if [[ -z $ANJU_PG_PORT ]]; then
    if [[ ! -f $ANJU_PG_DATA/PG_VERSION ]]; then
      _anju_pg_initdb
    fi
    log="$ANJU_PG_BASE/postgres.log"
    _anju_pg_choose_sockdir
    sockdir=$ANJU_PG_SOCKDIR
    if _anju_is_root; then
      chown -R postgres: "$ANJU_PG_BASE" "$sockdir"
    fi
    ANJU_PG_PORT=$(anju_free_port)
    # The page server's threads (scripts/page_server.py) may each keep a
    # connection for DJANGO_CONN_MAX_AGE: room for 3 × 50 of them, the Celery
    # worker and beat.
    opts="-p $ANJU_PG_PORT -k $sockdir -c listen_addresses=127.0.0.1 -c max_connections=250"
    if [[ $ANJU_MODE == test ]]; then
      opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
      # A primary for the streaming replica the tests read from (_anju_start_replica).
      opts+=" -c wal_level=replica -c max_wal_senders=10 -c max_replication_slots=10"
      _anju_pg_allow_replication
    fi
    anju_log "Starting PostgreSQL ($("$ANJU_PG_BIN/postgres" --version | awk '{print $3}')) on 127.0.0.1:$ANJU_PG_PORT, data in $ANJU_PG_DATA"
    ANJU_PG_STARTED=1
    echo "$$" >"$ANJU_PG_BASE/owner.pid"
    if ! _anju_pg_run "$ANJU_PG_BIN/pg_ctl" -D "$ANJU_PG_DATA" -w -t 60 -l "$log" -o "$opts" start >/dev/null; then
      tail -n 30 -- "$log" >&2 || true
      anju_die "PostgreSQL did not start (log: $log)"
    fi
  fi

  _anju_pg_require_password
  if [[ $(_anju_psql -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$ANJU_DB_NAME'") != 1 ]]; then
    anju_log "Creating database $ANJU_DB_NAME"
    _anju_psql -d postgres -c "CREATE DATABASE $ANJU_DB_NAME" >/dev/null
  fi
  export DATABASE_URL="postgres://postgres:$ANJU_PG_PASSWORD@127.0.0.1:$ANJU_PG_PORT/$ANJU_DB_NAME"
}

_anju_stop_postgres() {
  if ((ANJU_PG_STARTED == 0)); then
    return 0
  fi
  ANJU_PG_STARTED=0
  if [[ -f $ANJU_PG_DATA/postmaster.pid ]]; then
    anju_log "Stopping PostgreSQL (port $ANJU_PG_PORT)"
    _anju_pg_run "$ANJU_PG_BIN/pg_ctl" -D "$ANJU_PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
      anju_warn "pg_ctl stop failed; see $ANJU_PG_BASE/postgres.log"
  fi
  rm -f -- "$ANJU_PG_BASE/owner.pid"
}

# --- The streaming replica (test mode) ------------------------------------------------
#
# tests/crm_site/test_replica.py proves that reporting reads go to a replica and
# fall back to the primary (crm_site/replica.py); it needs a real one. Test mode
# starts it next to the primary: pg_basebackup -R of the server DATABASE_URL names
# (the one started above, or the one given), a hot standby on a free port that
# streams from it, stopped and removed at exit. When that server refuses
# replication connections: a warning, and those tests skip.

# The URLs below carry passwords: they reach Python through the environment, never
# as arguments (every local account reads every command line: ps, /proc/PID/cmdline).

# _anju_pg_url_field URL FIELD: host, port or user of a postgres:// URL.
_anju_pg_url_field() {
  ANJU_URL=$1 "$ANJU_PYTHON" - "$2" <<'EOF'
import os
import sys
from urllib.parse import unquote, urlsplit

u = urlsplit(os.environ["ANJU_URL"])
print({
    "host": u.hostname or "",
    "port": str(u.port or 5432),
    "user": unquote(u.username or ""),
}[sys.argv[1]])
EOF
}

# _anju_pg_url_at URL PORT: the same URL on 127.0.0.1:PORT (user, password and
# database kept).
_anju_pg_url_at() {
  ANJU_URL=$1 "$ANJU_PYTHON" - "$2" <<'EOF'
import os
import sys
from urllib.parse import urlsplit

u = urlsplit(os.environ["ANJU_URL"])
userinfo = u.netloc.rpartition("@")[0]
hostport = f"127.0.0.1:{sys.argv[1]}"
print(u._replace(netloc=f"{userinfo}@{hostport}" if userinfo else hostport).geturl())
EOF
}

# _anju_pg_url_db URL DB: the same URL naming database DB (the one in DATABASE_URL
# may not exist yet: pytest-django creates test_<name> from "postgres").
_anju_pg_url_db() {
  ANJU_URL=$1 "$ANJU_PYTHON" - "$2" <<'EOF'
import os
import sys
from urllib.parse import quote, urlsplit

print(urlsplit(os.environ["ANJU_URL"])._replace(path="/" + quote(sys.argv[1])).geturl())
EOF
}

# _anju_url_split URL: print URL without its password, a NUL, the password (decoded;
# empty when there is none), a NUL. A "password" query parameter counts too.
_anju_url_split() {
  ANJU_URL=$1 "$ANJU_PYTHON" - <<'EOF'
import os
import sys
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

u = urlsplit(os.environ["ANJU_URL"])
password = ""
if u.password is not None:
    password = unquote(u.password)
    userinfo, _, hostport = u.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    u = u._replace(netloc=f"{user}@{hostport}" if user else hostport)
query = parse_qsl(u.query, keep_blank_values=True)
for name, value in query:
    if name == "password":
        password = value
u = u._replace(query=urlencode([(n, v) for n, v in query if n != "password"]))
sys.stdout.write(f"{u.geturl()}\0{password}\0")
EOF
}

# _anju_url_shown URL: URL with its password as *** (for messages).
_anju_url_shown() {
  local bare="" password=""
  { IFS= read -r -d '' bare && IFS= read -r -d '' password; } < <(_anju_url_split "$1") || true
  if [[ -n $password && $bare == *://*@* ]]; then
    bare=${bare/@/:***@}
  elif [[ -n $password ]]; then
    bare=${bare/:\/\//:\/\/:***@}
  fi
  printf '%s\n' "$bare"
}

# _anju_pg_with URL CMD...: run CMD (a program or a function) with the password of
# the postgres:// URL in PGPASSWORD, in the environment: an argument "@url" stands
# for URL without its password, so none lands on a command line.
_anju_pg_with() {
  local url=$1 bare="" password="" arg args=()
  shift
  { IFS= read -r -d '' bare && IFS= read -r -d '' password; } < <(_anju_url_split "$url") ||
    anju_die "cannot read the database URL"
  for arg in "$@"; do
    if [[ $arg == @url ]]; then
      args+=("$bare")
    else
      args+=("$arg")
    fi
  done
  (
    if [[ -n $password ]]; then
      export PGPASSWORD=$password
    fi
    "${args[@]}"
  )
}

# Give up on the replica: warn, remove what was made of it, carry on without it.
_anju_replica_skip() {
  anju_warn "$1
    The tests that need a streaming replica (tests/crm_site/test_replica.py) will skip."
  _anju_stop_replica
  if [[ -n $ANJU_REPLICA_DATA ]]; then
    rm -rf -- "$ANJU_REPLICA_DATA"
  fi
  return 0
}

_anju_start_replica() {
  local psql num major user log err url host port settings opts admin size own=0
  local backup=()
  if [[ -n ${DATABASE_REPLICA_URL:-} ]]; then
    anju_log "DATABASE_REPLICA_URL is set: using that replica, not starting one"
    return 0
  fi
  if ((ANJU_PG_STARTED)); then
    own=1
  fi
  host=$(_anju_pg_url_field "$DATABASE_URL" host)
  port=$(_anju_pg_url_field "$DATABASE_URL" port)
  user=$(_anju_pg_url_field "$DATABASE_URL" user)
  admin=$(_anju_pg_url_db "$DATABASE_URL" postgres)
  psql=$ANJU_PSQL
  if [[ -z $psql ]]; then
    if ! command -v psql >/dev/null 2>&1; then
      ensure_apt_packages postgresql-client
    fi
    psql=$(command -v psql) || anju_die "psql not found"
  fi
  if ! num=$(PGCONNECT_TIMEOUT=5 _anju_pg_with "$admin" "$psql" -X -tA @url -c 'SHOW server_version_num' 2>&1); then
    _anju_replica_skip "cannot ask PostgreSQL at $host:$port for its version: ${num##*$'\n'}"
    return 0
  fi
  major=$((num / 10000))
  if [[ -z $ANJU_PG_BIN ]] && ! _anju_find_pg_bin "$major"; then
    ensure_apt_packages postgresql
    _anju_find_pg_bin "$major" || true
  fi
  if [[ -z $ANJU_PG_BIN || ! -x $ANJU_PG_BIN/pg_basebackup ||
    $("$ANJU_PG_BIN/postgres" --version) != *" $major."* ]]; then
    _anju_replica_skip "no PostgreSQL $major server programs here (pg_basebackup, postgres) to run a replica of $host:$port"
    return 0
  fi

  if ((own == 0)); then
    # Someone else's server: the copy holds all its databases. Not past the limit.
    size=$(PGCONNECT_TIMEOUT=5 _anju_pg_with "$admin" "$psql" -X -tA @url \
      -c 'SELECT (sum(pg_database_size(datname)) / 1048576)::bigint FROM pg_database' 2>/dev/null) || size=""
    if [[ $size =~ ^[0-9]+$ ]] && ((size > ${ANJU_REPLICA_MAX_COPY_MB:-4096})); then
      _anju_replica_skip "PostgreSQL at $host:$port holds $size MB; a replica of it is a copy of all that
    (more than ANJU_REPLICA_MAX_COPY_MB=${ANJU_REPLICA_MAX_COPY_MB:-4096}; raise it to copy anyway)"
      return 0
    fi
    # A place for the copy that the postgres user can reach.
    _anju_pg_choose_base
    _anju_pg_choose_sockdir
    if _anju_is_root; then
      chown postgres: "$ANJU_PG_SOCKDIR"
    fi
    anju_log "Copying PostgreSQL at $host:$port ($size MB) for a streaming replica"
  fi
  ANJU_REPLICA_DATA="$ANJU_PG_BASE/replica"
  log="$ANJU_PG_BASE/replica.log"
  rm -rf -- "$ANJU_REPLICA_DATA"
  # -R writes the connection, password included, into the copy's
  # postgresql.auto.conf (a file of the server's account), not on a command line.
  backup=(-d @url -D "$ANJU_REPLICA_DATA" -R -X stream -c fast --no-sync)
  if ((own)); then
    # Our own throwaway primary: a slot keeps the WAL the replica still needs.
    backup+=(-C -S anju_test_replica)
  fi
  if ! err=$(PGCONNECT_TIMEOUT=5 _anju_pg_with "$DATABASE_URL" _anju_pg_run "$ANJU_PG_BIN/pg_basebackup" "${backup[@]}" 2>&1); then
    _anju_replica_skip "pg_basebackup from $host:$port failed: ${err##*$'\n'}
    (that server must accept replication connections from here: wal_level=replica,
    max_wal_senders > 0 and a pg_hba.conf line such as 'host replication ${user:-postgres} 127.0.0.1/32 trust';
    or unset DATABASE_URL: the test command then starts its own primary and replica)"
    return 0
  fi
  # A Debian cluster keeps its configuration in /etc, outside the copied data.
  if [[ ! -f $ANJU_REPLICA_DATA/postgresql.conf ]]; then
    _anju_pg_run touch "$ANJU_REPLICA_DATA/postgresql.conf"
  fi
  if [[ ! -f $ANJU_REPLICA_DATA/pg_ident.conf ]]; then
    _anju_pg_run touch "$ANJU_REPLICA_DATA/pg_ident.conf"
  fi
  if [[ ! -f $ANJU_REPLICA_DATA/pg_hba.conf ]]; then
    # shellcheck disable=SC2016  # expanded by the inner sh
    _anju_pg_run sh -c 'printf "local all %s trust\nhost all %s 127.0.0.1/32 trust\n" "$1" "$1" >"$2"' \
      sh "${user:-postgres}" "$ANJU_REPLICA_DATA/pg_hba.conf"
  fi
  # A hot standby needs at least the primary's values of these.
  settings=$(PGCONNECT_TIMEOUT=5 _anju_pg_with "$admin" "$psql" -X -tA @url -c "SELECT string_agg(format('-c %s=%s', name, setting), ' ')
    FROM pg_settings WHERE name IN ('max_connections', 'max_worker_processes', 'max_wal_senders',
    'max_prepared_transactions', 'max_locks_per_transaction')") || settings=""
  ANJU_REPLICA_PORT=$(anju_free_port)
  opts="-p $ANJU_REPLICA_PORT -k $ANJU_PG_SOCKDIR -c listen_addresses=127.0.0.1 -c hot_standby=on"
  opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off $settings"
  anju_log "Starting a PostgreSQL streaming replica of $host:$port on 127.0.0.1:$ANJU_REPLICA_PORT, data in $ANJU_REPLICA_DATA"
  ANJU_REPLICA_STARTED=1
  if ! _anju_pg_run "$ANJU_PG_BIN/pg_ctl" -D "$ANJU_REPLICA_DATA" -w -t 60 -l "$log" -o "$opts" start >/dev/null; then
    tail -n 20 -- "$log" >&2 || true
    _anju_replica_skip "the replica did not start (log: $log)"
    return 0
  fi
  url=$(_anju_pg_url_at "$DATABASE_URL" "$ANJU_REPLICA_PORT")
  if [[ $(PGCONNECT_TIMEOUT=5 _anju_pg_with "$(_anju_pg_url_db "$url" postgres)" "$psql" -X -tA @url -c 'SELECT pg_is_in_recovery()' 2>/dev/null) != t ]]; then
    _anju_replica_skip "the replica on port $ANJU_REPLICA_PORT does not answer as a standby (log: $log)"
    return 0
  fi
  export DATABASE_REPLICA_URL=$url
}

_anju_stop_replica() {
  if ((ANJU_REPLICA_STARTED == 0)); then
    return 0
  fi
  ANJU_REPLICA_STARTED=0
  if [[ -f $ANJU_REPLICA_DATA/postmaster.pid ]]; then
    anju_log "Stopping the PostgreSQL replica (port $ANJU_REPLICA_PORT)"
    # A throwaway copy, removed with the test directory: no shutdown checkpoint.
    _anju_pg_run "$ANJU_PG_BIN/pg_ctl" -D "$ANJU_REPLICA_DATA" -m immediate -w -t 60 stop >/dev/null 2>&1 ||
      anju_warn "pg_ctl stop of the replica failed; see $ANJU_PG_BASE/replica.log"
  fi
}

# --- Redis ------------------------------------------------------------------------------

# _anju_redis_call PORT PASSWORD ARG...: send the command ARG... to the Redis on
# 127.0.0.1:PORT (after AUTH PASSWORD unless empty) and print its reply's first
# line. The password travels in the environment, never on a command line; an
# ARG "@password" stands for it.
_anju_redis_call() {
  local port=$1 password=$2
  shift 2
  ANJU_REDIS_AUTH=$password "$ANJU_PYTHON" - "$port" "$@" <<'EOF' 2>/dev/null
import os
import socket
import sys

password = os.environ["ANJU_REDIS_AUTH"]


def command(*parts):
    out = b"*%d\r\n" % len(parts)
    for part in parts:
        part = (password if part == "@password" else part).encode()
        out += b"$%d\r\n%s\r\n" % (len(part), part)
    return out


with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    replies = s.makefile("rb")
    if password:
        s.sendall(command("AUTH", password))
        replies.readline()
    s.sendall(command(*sys.argv[2:]))
    print(replies.readline().decode().strip())
EOF
}

_anju_redis_ping() {
  [[ $(_anju_redis_call "$1" "$ANJU_REDIS_PASSWORD" PING) == +PONG ]]
}

# A Redis of an earlier start without a password (this script's earlier
# versions): give it one, now and in its redis.conf.
_anju_redis_require_password() {
  local conf="$ANJU_REDIS_DIR/redis.conf"
  if [[ $(_anju_redis_call "$ANJU_REDIS_PORT" "" PING) == +PONG ]]; then
    anju_log "Setting a password on Redis on port $ANJU_REDIS_PORT (it answered every local account)"
    [[ $(_anju_redis_call "$ANJU_REDIS_PORT" "" CONFIG SET requirepass @password) == +OK ]] ||
      anju_die "cannot set the Redis password"
  fi
  if [[ -f $conf ]] && ! grep -q '^requirepass ' "$conf"; then
    echo "requirepass $(_anju_redis_quote "$ANJU_REDIS_PASSWORD")" >>"$conf"
  fi
}

# Quote a value for redis.conf.
_anju_redis_quote() {
  local v=${1//\\/\\\\}
  v=${v//\"/\\\"}
  printf '"%s"' "$v"
}

_anju_start_redis() {
  local dir pidfile conf pid owner i umask_was
  if ! command -v redis-server >/dev/null 2>&1; then
    ensure_apt_packages redis-server
    command -v redis-server >/dev/null 2>&1 || anju_die "redis-server not found"
  fi
  if [[ $ANJU_MODE == run ]]; then
    dir="$ANJU_VAR/redis"
  else
    dir="$ANJU_TMP/redis"
  fi
  mkdir -p -- "$dir"
  # The sessions and the broker's messages are in its files: this account only
  # (files of an earlier start included; the server writes its own under umask 077).
  chmod -R go-rwx -- "$dir"
  umask_was=$(umask)
  umask 077
  ANJU_REDIS_DIR=$dir
  ANJU_REDIS_PASSWORD=$(_anju_password_file "$dir/password")
  pidfile="$dir/redis.pid"

  # Run mode: a Redis from a previous start may still be running.
  if [[ $ANJU_MODE == run && -f $pidfile ]]; then
    pid=$(cat "$pidfile")
    if _anju_pid_alive "$pid" 'redis-server'; then
      ANJU_REDIS_PORT=$(cat "$dir/port" 2>/dev/null || true)
      if ! [[ $ANJU_REDIS_PORT =~ ^[0-9]+$ ]] || ! _anju_redis_ping "$ANJU_REDIS_PORT"; then
        anju_die "a Redis (pid $pid) from $dir is running but does not answer; stop it (kill $pid) and retry"
      fi
      _anju_redis_require_password
      ANJU_REDIS_PID=$pid
      owner=$(cat "$dir/owner.pid" 2>/dev/null || true)
      if [[ -n $owner && $owner != "$$" ]] && _anju_pid_alive "$owner" '(run|services|test)\.sh'; then
        anju_log "Reusing Redis on port $ANJU_REDIS_PORT (pid $pid), owned by the running script $owner"
      else
        anju_log "Reusing Redis on port $ANJU_REDIS_PORT (pid $pid) left by a previous start; stopping it at exit"
        ANJU_REDIS_STARTED=1
        echo "$$" >"$dir/owner.pid"
      fi
      export REDIS_URL="redis://:$ANJU_REDIS_PASSWORD@127.0.0.1:$ANJU_REDIS_PORT/0"
      umask "$umask_was"
      return 0
    fi
    anju_log "Removing stale $pidfile (process $pid is gone)"
    rm -f -- "$pidfile"
  fi

  ANJU_REDIS_PORT=$(anju_free_port)
  echo "$ANJU_REDIS_PORT" >"$dir/port"
  # Same settings as `redis-server --bind 127.0.0.1 --port P --daemonize yes ...`,
  # written to a file so that paths with spaces survive.
  conf="$dir/redis.conf"
  {
    echo "bind 127.0.0.1"
    echo "port $ANJU_REDIS_PORT"
    echo "daemonize yes"
    echo "pidfile $(_anju_redis_quote "$pidfile")"
    echo "logfile $(_anju_redis_quote "$dir/redis.log")"
    echo "dir $(_anju_redis_quote "$dir")"
    echo "requirepass $(_anju_redis_quote "$ANJU_REDIS_PASSWORD")"
    if [[ $ANJU_MODE == run ]]; then
      echo "appendonly yes"
    else
      echo 'save ""'
      echo "appendonly no"
    fi
  } >"$conf"
  anju_log "Starting Redis ($(redis-server --version | awk '{print $3}' | sed 's/^v=//')) on 127.0.0.1:$ANJU_REDIS_PORT, data in $dir"
  ANJU_REDIS_STARTED=1
  echo "$$" >"$dir/owner.pid"
  _anju_without_lock redis-server "$conf" >/dev/null || anju_die "redis-server failed to start (log: $dir/redis.log)"
  for ((i = 0; i < 150; i++)); do
    if [[ -s $pidfile ]] && _anju_redis_ping "$ANJU_REDIS_PORT"; then
      break
    fi
    sleep 0.2
  done
  ANJU_REDIS_PID=$(cat "$pidfile" 2>/dev/null || true)
  if ((i >= 150)); then
    tail -n 30 -- "$dir/redis.log" >&2 || true
    anju_die "Redis did not answer PING on port $ANJU_REDIS_PORT (log: $dir/redis.log)"
  fi
  umask "$umask_was"
  export REDIS_URL="redis://:$ANJU_REDIS_PASSWORD@127.0.0.1:$ANJU_REDIS_PORT/0"
}

_anju_stop_redis() {
  local pid
  if ((ANJU_REDIS_STARTED == 0)); then
    return 0
  fi
  ANJU_REDIS_STARTED=0
  # The pidfile first: Redis may have been restarted since (bench/faults.py does).
  pid=$(cat "$ANJU_REDIS_DIR/redis.pid" 2>/dev/null || true)
  if ! _anju_pid_alive "$pid" 'redis-server'; then
    pid=$ANJU_REDIS_PID
  fi
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    # A Redis stopped with SIGSTOP (a fault test) cannot handle SIGTERM.
    kill -CONT "$pid" 2>/dev/null || true
  fi
  if _anju_pid_alive "$pid" 'redis-server'; then
    anju_log "Stopping Redis (port $ANJU_REDIS_PORT)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! _anju_wait_pid_gone "$pid" 30; then
      anju_warn "Redis (pid $pid) did not stop in 30 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f -- "$ANJU_REDIS_DIR/owner.pid"
}

# Start PostgreSQL and Redis unless DATABASE_URL / REDIS_URL are set; in test
# mode, a streaming replica of that PostgreSQL unless DATABASE_REPLICA_URL is set.
anju_start_services() {
  anju_find_python
  if [[ -n ${DATABASE_URL:-} ]]; then
    anju_log "DATABASE_URL is set: using that database, not starting PostgreSQL"
  else
    _anju_start_postgres
  fi
  if [[ -n ${REDIS_URL:-} ]]; then
    anju_log "REDIS_URL is set: using that Redis, not starting one"
  else
    _anju_start_redis
  fi
  if [[ $ANJU_MODE == test ]]; then
    _anju_start_replica
  fi
}

# --- Steps ---------------------------------------------------------------------------------

# anju_step TITLE CMD...: print a numbered heading, run CMD, and on failure
# stop the script with CMD's exit status and a clear message.
_ANJU_STEP_NO=0
anju_step() {
  local title=$1 rc=0
  shift
  _ANJU_STEP_NO=$((_ANJU_STEP_NO + 1))
  anju_heading "[$_ANJU_STEP_NO] $title"
  "$@" || rc=$?
  if ((rc != 0)); then
    anju_log "FAILED: $title (exit status $rc)"
    exit "$rc"
  fi
}

# --- Children ---------------------------------------------------------------------------

# anju_spawn NAME CMD...: run CMD in the background as the leader of a new
# process group (setsid), so that it and all its own children can be stopped.
# The command is remembered, so that anju_supervise_children can start it again.
anju_spawn() {
  local name=$1
  shift
  ANJU_CHILD_NAMES+=("$name")
  ANJU_CHILD_CMDS+=("$(printf '%q ' "$@")")
  ANJU_CHILD_PIDS+=("")
  ANJU_CHILD_STARTED+=(0)
  ANJU_CHILD_DELAY+=("$ANJU_RESTART_MIN_DELAY")
  ANJU_CHILD_RESTART_AT+=(0)
  _anju_start_child $((${#ANJU_CHILD_NAMES[@]} - 1))
}

# Start child number I from its remembered command.
_anju_start_child() {
  local i=$1
  if [[ -n $ANJU_LOCK_FD ]]; then
    eval "setsid ${ANJU_CHILD_CMDS[$i]} {ANJU_LOCK_FD}>&- &"
  else
    eval "setsid ${ANJU_CHILD_CMDS[$i]} &"
  fi
  ANJU_CHILD_PIDS[i]=$!
  ANJU_CHILD_STARTED[i]=$SECONDS
  _anju_write_children_file
  anju_log "Started ${ANJU_CHILD_NAMES[$i]} (pid $!)"
}

# Run mode: var/run/children.<script pid> lists "pgid program name start boot"
# for each running child (start: field 22 of /proc/<pgid>/stat; boot:
# /proc/sys/kernel/random/boot_id), to clean up after a kill -9 of this script
# (and for bench/faults.py, which finds the worker and beat there).
_anju_write_children_file() {
  local i prog start boot
  [[ -n $ANJU_CHILDREN_FILE ]] || return 0
  boot=$(_anju_boot_id)
  {
    for i in "${!ANJU_CHILD_PIDS[@]}"; do
      [[ -n ${ANJU_CHILD_PIDS[$i]} ]] || continue
      start=$(_anju_pid_start_time "${ANJU_CHILD_PIDS[$i]}") || continue
      read -r prog _ <<<"${ANJU_CHILD_CMDS[$i]}"
      echo "${ANJU_CHILD_PIDS[$i]} $(basename -- "$prog") ${ANJU_CHILD_NAMES[$i]} $start $boot"
    done
  } >"$ANJU_CHILDREN_FILE.tmp" && mv -f -- "$ANJU_CHILDREN_FILE.tmp" "$ANJU_CHILDREN_FILE"
}

# Stop what is left of process group PGID (the workers of a page server or
# a Celery worker killed with -9 keep running, and the page server's keep the port).
# Orphans get 2 s to finish a request or task (an idle server worker may wait
# far longer for its next connection before it notices SIGTERM), then SIGKILL.
_anju_stop_group() {
  local pgid=$1 deadline
  _anju_groups_alive "$pgid" || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || true
  deadline=$((SECONDS + 2))
  while _anju_groups_alive "$pgid" && ((SECONDS < deadline)); do
    sleep 0.2
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  deadline=$((SECONDS + 5))
  while _anju_groups_alive "$pgid" && ((SECONDS < deadline)); do
    sleep 0.1
  done
}

# True when process group PGID is still the child recorded as started at
# START (clock ticks since boot) during boot BOOT: its leader is that very
# process, or the leader is gone and members of its group are left (the kernel
# hands out no id that a living group still uses). Without START and BOOT (a
# line written before they were recorded): only when LEGACY is 1, the file was
# written during this boot and the leader started before it was written (then
# it held that id when it was written: the same process).
_anju_child_is_ours() {
  local pgid=$1 start=$2 boot=$3 legacy=$4 file=$5 now btime tick file_time
  if [[ -n $start && -n $boot ]]; then
    [[ $boot == "$(_anju_boot_id)" ]] || return 1
    if now=$(_anju_pid_start_time "$pgid"); then
      [[ $now == "$start" ]]
      return
    fi
    _anju_groups_alive "$pgid"
    return
  fi
  ((legacy)) || return 1
  now=$(_anju_pid_start_time "$pgid") || return 1
  btime=$(awk '$1 == "btime" {print $2}' /proc/stat 2>/dev/null)
  tick=$(getconf CLK_TCK 2>/dev/null || echo 100)
  file_time=$(stat -c %Y -- "$file" 2>/dev/null)
  [[ $btime =~ ^[0-9]+$ && $file_time =~ ^[0-9]+$ ]] || return 1
  # (btime is whole seconds: one second of slack.)
  ((file_time >= btime && btime + now / tick <= file_time + 1))
}

# Run mode: stop the children of an earlier start that was killed with -9
# (recorded in var/run/children.<script pid>, the script being gone), only
# those still the processes recorded (_anju_child_is_ours: an id handed out
# again after a reboot or a wrap-around belongs to someone else). With
# "legacy" (scripts/services.sh stop, asked for by hand) also lines without
# the start time, when they can only be the process recorded.
_anju_reap_stale_children() {
  local legacy=0 f owner pgid prog name start boot deadline
  if [[ ${1:-} == legacy ]]; then
    legacy=1
  fi
  for f in "$ANJU_VAR"/run/children.*; do
    [[ -f $f ]] || continue
    owner=${f##*.}
    if [[ $owner == tmp ]]; then
      rm -f -- "$f"
      continue
    fi
    if _anju_pid_alive "$owner" '(run|services|test)\.sh'; then
      continue
    fi
    while read -r pgid prog name start boot; do
      [[ $pgid =~ ^[0-9]+$ && -n $prog ]] || continue
      _anju_group_matches "$pgid" "$prog" || continue
      if ! _anju_child_is_ours "$pgid" "$start" "$boot" "$legacy" "$f"; then
        anju_warn "Not stopping process group $pgid (was $name of an earlier start): not the process recorded in $f"
        continue
      fi
      anju_warn "Stopping $name (process group $pgid) left running by an earlier start"
      kill -TERM -- "-$pgid" 2>/dev/null || true
      deadline=$((SECONDS + 30))
      while _anju_groups_alive "$pgid" && ((SECONDS < deadline)); do
        sleep 0.2
      done
      kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$f"
    rm -f -- "$f"
  done
}

# Block until one of the spawned children exits; print which one and return
# its exit status (or 1 when it exited with 0, which is unexpected too).
anju_wait_children() {
  local rc i
  while true; do
    rc=0
    wait -n || rc=$?
    for i in "${!ANJU_CHILD_PIDS[@]}"; do
      if ! _anju_pid_alive "${ANJU_CHILD_PIDS[$i]}"; then
        anju_warn "${ANJU_CHILD_NAMES[$i]} (pid ${ANJU_CHILD_PIDS[$i]}) exited with status $rc"
        if ((rc == 0)); then
          rc=1
        fi
        return "$rc"
      fi
    done
  done
}

# Keep the children running until a signal stops the script (the exit trap then
# stops everything). A child that exits, crashes or is killed (kill -9) is
# started again after a back-off: ANJU_RESTART_MIN_DELAY seconds, doubling on
# each crash up to ANJU_RESTART_MAX_DELAY, back to the minimum once it has stayed
# up ANJU_RESTART_RESET seconds. What is left of its process group is stopped
# first. While var/run/hold-NAME exists a stopped child is not restarted
# (maintenance; bench/faults.py keeps beat down that way). Checked once a
# second; the sleep is interruptible, so Ctrl-C is handled at once.
anju_supervise_children() {
  local i pid rc up delay
  while true; do
    for i in "${!ANJU_CHILD_PIDS[@]}"; do
      pid=${ANJU_CHILD_PIDS[$i]}
      if [[ -n $pid ]] && ! _anju_pid_alive "$pid"; then
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        up=$((SECONDS - ANJU_CHILD_STARTED[i]))
        if ((up >= ANJU_RESTART_RESET)); then
          ANJU_CHILD_DELAY[i]=$ANJU_RESTART_MIN_DELAY
        fi
        delay=${ANJU_CHILD_DELAY[$i]}
        anju_warn "${ANJU_CHILD_NAMES[$i]} (pid $pid) exited with status $rc after ${up} s; restarting it in ${delay} s"
        _anju_stop_group "$pid"
        ANJU_CHILD_PIDS[i]=""
        _anju_write_children_file
        ANJU_CHILD_RESTART_AT[i]=$((SECONDS + delay))
        delay=$((delay * 2))
        ANJU_CHILD_DELAY[i]=$((delay > ANJU_RESTART_MAX_DELAY ? ANJU_RESTART_MAX_DELAY : delay))
        ANJU_CHILD_RESTARTS=$((ANJU_CHILD_RESTARTS + 1))
      fi
      if [[ -z ${ANJU_CHILD_PIDS[$i]} ]] && ((SECONDS >= ANJU_CHILD_RESTART_AT[i])); then
        if [[ -n $ANJU_CHILDREN_FILE && -e $ANJU_VAR/run/hold-${ANJU_CHILD_NAMES[$i]} ]]; then
          # Held on purpose (maintenance, bench/faults.py): not restarted until the
          # file is removed.
          if ((ANJU_CHILD_RESTART_AT[i] >= 0)); then
            anju_log "${ANJU_CHILD_NAMES[$i]} is held (var/run/hold-${ANJU_CHILD_NAMES[$i]}); not restarting it"
            ANJU_CHILD_RESTART_AT[i]=-1
          fi
        else
          _anju_start_child "$i"
        fi
      fi
    done
    if [[ $ANJU_MODE == run ]]; then
      ((ANJU_PG_STARTED == 0)) || _anju_supervise_service postgres PostgreSQL
      ((ANJU_REDIS_STARTED == 0)) || _anju_supervise_service redis Redis
    fi
    _anju_without_lock sleep 1 &
    _ANJU_SLEEP_PID=$!
    wait "$_ANJU_SLEEP_PID" 2>/dev/null || true
    _ANJU_SLEEP_PID=""
  done
}

# --- Supervising the local PostgreSQL and Redis (run mode) --------------------------------
#
# They run as daemons, not as our children: what tells a crash (kill -9, the OOM
# killer) from a stop on purpose is the pid file. A clean stop (pg_ctl stop, Redis'
# SIGTERM or SHUTDOWN; bench/faults.py stops them that way) removes it, and the
# server is left stopped; a crash leaves it behind with its process gone, and the
# server is started again on the same port with the same data, with the children's
# back-off. var/run/hold-postgres, var/run/hold-redis hold it too.

declare -gA _ANJU_SVC_DELAY=() _ANJU_SVC_AT=() _ANJU_SVC_UP=() _ANJU_SVC_NOTED=()

# _anju_service_state NAME: "up", "stopped" (no pid file) or "crashed PID".
_anju_service_state() {
  local pidfile pattern pid
  case $1 in
    postgres) pidfile="$ANJU_PG_DATA/postmaster.pid" pattern=postgres ;;
    redis) pidfile="$ANJU_REDIS_DIR/redis.pid" pattern=redis-server ;;
  esac
  if [[ ! -f $pidfile ]]; then
    echo stopped
    return 0
  fi
  pid=$(sed -n 1p "$pidfile" 2>/dev/null || true)
  if _anju_pid_alive "$pid" "$pattern"; then
    echo up
  else
    echo "crashed $pid"
  fi
}

# The options PostgreSQL was started with (postmaster.opts, kept after a crash),
# without the program and its data directory, quoted for pg_ctl -o.
_anju_pg_recorded_opts() {
  ANJU_OPTS_FILE="$ANJU_PG_DATA/postmaster.opts" "$ANJU_PYTHON" - <<'EOF'
import os
import shlex

words = shlex.split(open(os.environ["ANJU_OPTS_FILE"]).read())[1:]
if "-D" in words:
    i = words.index("-D")
    del words[i : i + 2]
print(shlex.join(words))
EOF
}

# Start NAME again; print its new pid. PostgreSQL itself refuses to start while a
# process of the killed server still uses its shared memory: a failure, tried again.
_anju_service_restart() {
  local opts i
  case $1 in
    postgres)
      opts=$(_anju_pg_recorded_opts) || return 1
      _anju_pg_run "$ANJU_PG_BIN/pg_ctl" -D "$ANJU_PG_DATA" -w -t 30 \
        -l "$ANJU_PG_BASE/postgres.log" -o "$opts" start >/dev/null 2>&1 || return 1
      sed -n 1p "$ANJU_PG_DATA/postmaster.pid"
      ;;
    redis)
      (umask 077 && _anju_without_lock redis-server "$ANJU_REDIS_DIR/redis.conf" >/dev/null 2>&1) ||
        return 1
      for ((i = 0; i < 50; i++)); do
        if _anju_redis_ping "$ANJU_REDIS_PORT"; then
          ANJU_REDIS_PID=$(cat "$ANJU_REDIS_DIR/redis.pid" 2>/dev/null || true)
          echo "$ANJU_REDIS_PID"
          return 0
        fi
        sleep 0.1
      done
      return 1
      ;;
  esac
}

# One look at service NAME (LABEL in messages) from anju_supervise_children.
_anju_supervise_service() {
  local name=$1 label=$2 state delay up pid log
  state=$(_anju_service_state "$name")
  if [[ -z ${_ANJU_SVC_AT[$name]:-} ]]; then
    case $state in
      up)
        _ANJU_SVC_NOTED[$name]=""
        return 0
        ;;
      stopped)
        if [[ -z ${_ANJU_SVC_NOTED[$name]:-} ]]; then
          anju_warn "$label was stopped, not by a crash: not restarting it"
          _ANJU_SVC_NOTED[$name]=1
        fi
        return 0
        ;;
    esac
    # Crashed: schedule its restart.
    up=$((SECONDS - ${_ANJU_SVC_UP[$name]:-0}))
    delay=${_ANJU_SVC_DELAY[$name]:-$ANJU_RESTART_MIN_DELAY}
    if ((up >= ANJU_RESTART_RESET)); then
      delay=$ANJU_RESTART_MIN_DELAY
    fi
    anju_warn "$label (pid ${state#crashed }) is gone after ${up} s; restarting it in ${delay} s"
    _ANJU_SVC_AT[$name]=$((SECONDS + delay))
    delay=$((delay * 2))
    _ANJU_SVC_DELAY[$name]=$((delay > ANJU_RESTART_MAX_DELAY ? ANJU_RESTART_MAX_DELAY : delay))
    ANJU_CHILD_RESTARTS=$((ANJU_CHILD_RESTARTS + 1))
    return 0
  fi
  # A restart is due at _ANJU_SVC_AT (the pid file may be gone by now: a failed
  # start removes it).
  if [[ $state == up ]]; then
    anju_log "$label is running again (started by someone else)"
    _ANJU_SVC_AT[$name]=""
    _ANJU_SVC_UP[$name]=$SECONDS
    return 0
  fi
  ((SECONDS >= ${_ANJU_SVC_AT[$name]})) || return 0
  if [[ -e $ANJU_VAR/run/hold-$name ]]; then
    if [[ -z ${_ANJU_SVC_NOTED[$name]:-} ]]; then
      anju_log "$label is held (var/run/hold-$name); not restarting it"
      _ANJU_SVC_NOTED[$name]=1
    fi
    return 0
  fi
  _ANJU_SVC_NOTED[$name]=""
  if pid=$(_anju_service_restart "$name"); then
    anju_log "Restarted $label (pid $pid)"
    _ANJU_SVC_AT[$name]=""
    _ANJU_SVC_UP[$name]=$SECONDS
    return 0
  fi
  log="$ANJU_PG_BASE/postgres.log"
  if [[ $name == redis ]]; then
    log="$ANJU_REDIS_DIR/redis.log"
  fi
  delay=${_ANJU_SVC_DELAY[$name]}
  anju_warn "$label did not start again (log: $log); trying again in ${delay} s"
  _ANJU_SVC_AT[$name]=$((SECONDS + delay))
  delay=$((delay * 2))
  _ANJU_SVC_DELAY[$name]=$((delay > ANJU_RESTART_MAX_DELAY ? ANJU_RESTART_MAX_DELAY : delay))
}

# The running children's process group ids (skips those waiting to restart).
_anju_running_children() {
  local pid
  for pid in "${ANJU_CHILD_PIDS[@]}"; do
    [[ -n $pid ]] && echo "$pid"
  done
  return 0
}

_anju_stop_children() {
  local pid deadline pids=()
  if [[ -n ${_ANJU_SLEEP_PID:-} ]]; then
    kill "$_ANJU_SLEEP_PID" 2>/dev/null || true
  fi
  mapfile -t pids < <(_anju_running_children)
  if ((${#pids[@]} == 0)); then
    ANJU_CHILD_PIDS=()
    ANJU_CHILD_NAMES=()
    return 0
  fi
  anju_log "Stopping ${ANJU_CHILD_NAMES[*]}"
  # The group leaders (the servers' main processes, celery's) stop their own
  # workers on SIGTERM; whatever is left of a group afterwards is killed.
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while _anju_pid_alive "$pid" && ((SECONDS < deadline)); do
      sleep 0.2
    done
  done
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + 5))
  while _anju_groups_alive "${pids[@]}" && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if _anju_groups_alive "${pids[@]}"; then
    anju_warn "some processes did not stop in time; killing them"
    for pid in "${pids[@]}"; do
      kill -KILL -- "-$pid" 2>/dev/null || true
    done
  fi
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  ANJU_CHILD_PIDS=()
  ANJU_CHILD_NAMES=()
}

# --- Setup and cleanup ---------------------------------------------------------------------

_anju_on_signal() {
  trap '' PIPE
  anju_log "Received SIG$1, shutting down"
  case $1 in
    INT) exit 130 ;;
    HUP) exit 129 ;;
    *) exit 143 ;;
  esac
}

_anju_on_exit() {
  local rc=$? d elapsed
  # Best effort from here on: ignore further signals and errors.
  trap '' INT TERM HUP PIPE
  set +e
  if ((_ANJU_CLEANED == 0)); then
    _ANJU_CLEANED=1
    _anju_stop_children
    _anju_stop_redis
    _anju_stop_replica
    _anju_stop_postgres
    if [[ -n $ANJU_CHILDREN_FILE ]]; then
      rm -f -- "$ANJU_CHILDREN_FILE"
    fi
    for d in "${ANJU_EXTRA_TMP[@]}" "$ANJU_TMP"; do
      if [[ -n $d && -d $d ]]; then
        rm -rf -- "$d"
      fi
    done
    if ((ANJU_REPORT_ELAPSED)); then
      elapsed=$((SECONDS - ANJU_START_SECONDS))
      printf '\n[anju] Total time: %dm%02ds (exit status %d)\n' $((elapsed / 60)) $((elapsed % 60)) "$rc" >&2
    fi
  fi
  exit "$rc"
}

# Run mode: one start per checkout. A second run.sh (another PORT) or
# services.sh start would share this one's PostgreSQL, Redis, var/run and beat
# schedule (jobs queued twice), and lose its servers when this one stops.
# The lock is held on an open descriptor until the script exits (children and
# servers do not inherit it: _anju_spawn, _anju_pg_run and redis-server close it).
_anju_lock_run() {
  local lockfile="$ANJU_VAR/run/run.lock" holder
  if ! command -v flock >/dev/null 2>&1; then
    anju_warn "flock (util-linux) not found: not guarding against a second start in this checkout"
    return 0
  fi
  exec {ANJU_LOCK_FD}>>"$lockfile"
  # A short wait: a step of a start killed with -9 may hold it a moment longer.
  if ! flock -w 2 "$ANJU_LOCK_FD"; then
    holder=$(cat -- "$lockfile" 2>/dev/null || true)
    exec {ANJU_LOCK_FD}>&-
    ANJU_LOCK_FD=""
    anju_die "Anju CRM is already running (pid ${holder:-unknown}) from $ANJU_ROOT; stop that one first (Ctrl-C there)"
  fi
  echo "$$" >"$lockfile"
}

# Run CMD... without the run lock's descriptor (a server outliving this script
# must not keep the lock).
_anju_without_lock() {
  if [[ -n $ANJU_LOCK_FD ]]; then
    "$@" {ANJU_LOCK_FD}>&-
  else
    "$@"
  fi
}

# anju_init run|test
anju_init() {
  ANJU_MODE=$1
  case $ANJU_MODE in
    run | test) ;;
    *) anju_die "anju_init: unknown mode '$ANJU_MODE'" ;;
  esac
  cd -- "$ANJU_ROOT" || anju_die "cannot cd to $ANJU_ROOT"
  trap _anju_on_exit EXIT
  trap '_anju_on_signal INT' INT
  trap '_anju_on_signal TERM' TERM
  trap '_anju_on_signal HUP' HUP
  if [[ $ANJU_MODE == test ]]; then
    ANJU_TMP=$(mktemp -d "${TMPDIR:-/tmp}/anju-test.XXXXXX")
    chmod 755 "$ANJU_TMP"
  else
    mkdir -p -- "$ANJU_VAR/run"
    # var/ holds the database, Redis, the keys and the uploads (customer lists,
    # photos): for this account only; as root, the postgres user may pass through
    # to its var/postgres (PostgreSQL runs as that user), and list nothing.
    if _anju_is_root && id -u postgres >/dev/null 2>&1; then
      chgrp postgres "$ANJU_VAR"
      chmod 710 "$ANJU_VAR"
    else
      chmod 700 "$ANJU_VAR"
    fi
    _anju_lock_run
    _anju_reap_stale_children
    rm -f -- "$ANJU_VAR"/run/hold-*
    ANJU_CHILDREN_FILE="$ANJU_VAR/run/children.$$"
  fi
}
