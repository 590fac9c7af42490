"""scripts/run.sh and scripts/services.sh keep the local stack to themselves: one start
per checkout, a killed start's processes stopped by the next start or by
`services.sh stop` (and only those), an IPv6 HOST bound as the servers take it,
uploads readable by the CRM's own account only, no password on a command line, demo
data and logins only in the database run.sh started itself, and its own PostgreSQL
and Redis restarted after a crash.

Each script test copies scripts/ into a throwaway root, so its var/ is its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from customers.services import imports

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "DATABASE_REPLICA_URL"):
        env.pop(name, None)
    return env


def _services(path: Path, *args: str) -> subprocess.CompletedProcess:
    """``scripts/services.sh ARGS`` in ``path``, its output captured."""
    return subprocess.run(
        ["bash", "scripts/services.sh", *args],
        cwd=path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[1].split()[0] != "Z"


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def _wait_gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pid)


class _Script:
    """A bash script run in the copied root, its stderr collected."""

    def __init__(self, root: Path, script: str):
        self.proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=root,
            env=_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.err: list[str] = []
        threading.Thread(
            target=lambda: self.err.extend(
                line.rstrip("\n") for line in self.proc.stderr
            ),
            daemon=True,
        ).start()

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.err):
                if m := re.search(pattern, line):
                    return m
            if self.proc.poll() is not None:
                time.sleep(0.2)
                for line in list(self.err):
                    if m := re.search(pattern, line):
                        return m
                break
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in {self.err}")


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "a b"
    path.mkdir()
    shutil.copytree(ROOT / "scripts", path / "scripts")
    pids: list[int] = []
    yield path, pids
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


SUPERVISED = """
source scripts/lib.sh
anju_init run
anju_spawn sleeper sleep 600
anju_supervise_children
"""


def test_a_second_start_in_the_same_checkout_is_refused(root):
    path, pids = root
    first = _Script(path, SUPERVISED)
    pids.append(first.proc.pid)
    sleeper = int(first.wait_for(r"Started sleeper \(pid (\d+)\)").group(1))
    pids.append(sleeper)

    second = subprocess.run(
        ["bash", "-c", "source scripts/lib.sh; anju_init run; echo started"],
        cwd=path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "started" not in second.stdout
    assert f"already running (pid {first.proc.pid})" in second.stderr
    # The first start's processes and files are left alone.
    assert _alive(sleeper)
    assert (path / "var" / "run" / f"children.{first.proc.pid}").exists()

    first.proc.send_signal(signal.SIGTERM)
    first.proc.wait(30)
    assert _wait_gone(sleeper)
    # Once the first has stopped, a start goes ahead.
    third = subprocess.run(
        ["bash", "-c", "source scripts/lib.sh; anju_init run; echo started"],
        cwd=path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert third.returncode == 0, third.stderr
    assert "started" in third.stdout


def test_a_killed_start_leaves_no_lock_and_the_next_start_stops_its_children(root):
    """The children do not inherit the lock: after a kill -9 of the script, the next
    start takes it and stops the children the file names (the very processes)."""
    path, pids = root
    first = _Script(path, SUPERVISED)
    pids.append(first.proc.pid)
    sleeper = int(first.wait_for(r"Started sleeper \(pid (\d+)\)").group(1))
    pids.append(sleeper)
    children = path / "var" / "run" / f"children.{first.proc.pid}"
    deadline = time.monotonic() + 10
    while not children.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children.read_text().split() == [
        str(sleeper),
        "sleep",
        "sleeper",
        _start_time(sleeper),
        _boot_id(),
    ]

    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    assert _alive(sleeper)

    nxt = subprocess.run(
        ["bash", "-c", "source scripts/lib.sh; anju_init run"],
        cwd=path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nxt.returncode == 0, nxt.stderr
    assert _wait_gone(sleeper), nxt.stderr
    assert not children.exists()


def test_var_is_for_this_account_only(root):
    path, _pids = root
    (path / "var").mkdir(mode=0o755)
    done = subprocess.run(
        ["bash", "-c", "source scripts/lib.sh; anju_init run"],
        cwd=path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    mode = stat.S_IMODE((path / "var").stat().st_mode)
    if os.geteuid() == 0 and shutil.which("runuser"):
        # PostgreSQL runs as the postgres user: it passes through to var/postgres.
        assert (mode, (path / "var").group()) == (0o710, "postgres")
    else:
        assert mode == 0o700


def _bystander() -> subprocess.Popen:
    return subprocess.Popen(
        ["python3", "-c", "import time; time.sleep(600)"], start_new_session=True
    )


def _gone_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


@pytest.mark.parametrize(
    "recorded",
    [
        "",  # written before the start time was recorded
        " 1 {boot}",  # another process that had the id
        " {start} 00000000-0000-0000-0000-000000000000",  # an earlier boot
    ],
    ids=["no-start-time", "other-start-time", "other-boot"],
)
def test_a_stale_children_file_does_not_kill_an_unrelated_process(root, recorded):
    path, pids = root
    (path / "var" / "run").mkdir(parents=True)
    bystander = _bystander()
    pids.append(bystander.pid)
    line = f"{bystander.pid} python page-server" + recorded.format(
        boot=_boot_id(), start=_start_time(bystander.pid)
    )
    (path / "var" / "run" / f"children.{_gone_pid()}").write_text(line + "\n")

    done = subprocess.run(
        ["bash", "-c", "source scripts/lib.sh; anju_init run"],
        cwd=path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    time.sleep(0.5)
    assert bystander.poll() is None, f"an unrelated process was killed: {done.stderr}"
    assert "Not stopping process group" in done.stderr
    assert list((path / "var" / "run").glob("children.*")) == []


def test_services_stop_also_stops_the_children_of_a_killed_run(root):
    path, pids = root
    first = _Script(path, SUPERVISED)
    pids.append(first.proc.pid)
    sleeper = int(first.wait_for(r"Started sleeper \(pid (\d+)\)").group(1))
    pids.append(sleeper)
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)

    done = _services(path, "stop")
    assert done.returncode == 0, done.stderr
    assert _wait_gone(sleeper), done.stderr


def test_services_stop_also_stops_children_recorded_before_start_times_were(root):
    """A children file of an older run.sh ("pgid program name"): `services.sh stop`,
    asked for by hand, stops a process that started before the file was written
    during this boot (it held that id then: the same process)."""
    path, pids = root
    (path / "var" / "run").mkdir(parents=True)
    child = subprocess.Popen(["sleep", "600"], start_new_session=True)
    pids.append(child.pid)
    time.sleep(1.1)
    (path / "var" / "run" / f"children.{_gone_pid()}").write_text(
        f"{child.pid} sleep celery-worker\n"
    )
    done = _services(path, "stop")
    assert done.returncode == 0, done.stderr
    child.wait(15)


def test_services_stop_leaves_a_process_younger_than_an_old_children_file(root):
    path, pids = root
    (path / "var" / "run").mkdir(parents=True)
    stale = path / "var" / "run" / f"children.{_gone_pid()}"
    bystander = _bystander()
    pids.append(bystander.pid)
    stale.write_text(f"{bystander.pid} python page-server\n")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    done = _services(path, "stop")
    assert done.returncode == 0, done.stderr
    time.sleep(0.5)
    assert bystander.poll() is None, done.stderr


needs_root = pytest.mark.skipif(
    os.geteuid() != 0
    or not shutil.which("runuser")
    or not shutil.which("redis-server")
    or not shutil.which("redis-cli")
    or not shutil.which("psql"),
    reason="starts PostgreSQL as the postgres user (root only, as on a fresh machine)",
)


@pytest.fixture
def scratch():
    """A copy of scripts/ in a path with a space (its PostgreSQL socket then goes to
    /tmp/anju-pgsock.*) that the postgres user can reach, whatever is left running
    there stopped at the end."""
    base = Path(tempfile.mkdtemp(prefix="anju-scripts-", dir="/tmp"))
    path = base / "a b"
    path.mkdir()
    for p in (base, path):
        os.chmod(p, 0o755)
    shutil.copytree(ROOT / "scripts", path / "scripts")
    yield path
    _services(path, "stop")
    shutil.rmtree(path.parent, ignore_errors=True)


def _psql(url: str, user: str | None = None, password: str | None = None) -> bool:
    cmd = ["psql", "-X", "-tA", "-w", url, "-c", "SELECT 1"]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    env = {**_env(), "PGCONNECT_TIMEOUT": "5"}
    env.pop("PGPASSWORD", None)
    if password:
        env["PGPASSWORD"] = password
    done = subprocess.run(
        cmd, cwd="/", env=env, capture_output=True, text=True, timeout=30
    )
    return done.returncode == 0 and done.stdout.strip() == "1"


def _redis(port: str, *args: str, user: str | None = None, password: str = "") -> str:
    cmd = ["redis-cli", "--no-auth-warning", "-h", "127.0.0.1", "-p", port, *args]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    env = {**_env(), "REDISCLI_AUTH": password} if password else _env()
    done = subprocess.run(
        cmd, cwd="/", env=env, capture_output=True, text=True, timeout=30
    )
    return done.stdout.strip()


@needs_root
def test_other_local_accounts_cannot_use_the_project_databases(scratch):
    started = _Script(scratch, "exec bash scripts/services.sh start run")
    try:
        started.wait_for(r"Services are up", timeout=120)
        pg_password = (scratch / "var" / "postgres" / "password").read_text().strip()
        redis_password = (scratch / "var" / "redis" / "password").read_text().strip()
        for f in ("postgres/password", "redis/password"):
            assert stat.S_IMODE((scratch / "var" / f).stat().st_mode) == 0o600
        pidfile = (scratch / "var" / "postgres" / "data" / "postmaster.pid").read_text()
        pg_port, sockdir = pidfile.splitlines()[3], pidfile.splitlines()[4]
        redis_port = (scratch / "var" / "redis" / "port").read_text().strip()
        url = f"postgres://postgres@127.0.0.1:{pg_port}/anju"

        # The script's own URL (what the CRM gets) carries the passwords.
        psql = subprocess.run(
            [
                *(
                    "psql",
                    "-X",
                    "-tA",
                    "-w",
                    "-h",
                    sockdir,
                    "-p",
                    pg_port,
                    "-U",
                    "postgres",
                ),
                *("-d", "anju", "-c", "SELECT 1"),
            ],
            cwd="/",
            env={**_env(), "PGPASSWORD": pg_password},
            capture_output=True,
            text=True,
        )
        assert psql.stdout.strip() == "1", psql.stderr
        assert _psql(url, password=pg_password)
        assert _redis(redis_port, "ping", password=redis_password) == "PONG"

        # Anyone else on the machine: neither over TCP nor through the socket.
        assert not _psql(url, user="nobody")
        assert not _psql(url)
        socket_url = f"postgresql://postgres@/anju?host={sockdir}&port={pg_port}"
        assert not _psql(socket_url, user="nobody")
        assert _redis(redis_port, "ping", user="nobody").startswith("NOAUTH")
        assert _redis(redis_port, "ping").startswith("NOAUTH")
    finally:
        started.proc.send_signal(signal.SIGTERM)
        started.proc.wait(60)


# The commit that gave the local servers their passwords: its parent's scripts
# started them with initdb --auth=trust and no requirepass.
PASSWORDS_CAME = "b9e5df1"


def _old_scripts(path: Path) -> None:
    """The scripts as they were before the passwords (initdb --auth=trust)."""
    for name in ("lib.sh", "services.sh"):
        old = subprocess.run(
            ["git", "show", f"{PASSWORDS_CAME}^:scripts/{name}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if old.returncode:
            pytest.skip("the history before the passwords is not in this checkout")
        (path / "scripts" / name).write_text(old.stdout)


@needs_root
@pytest.mark.parametrize("left_running", [False, True], ids=["stopped", "left-running"])
def test_data_of_an_earlier_start_without_passwords_gets_them(scratch, left_running):
    if subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True
    ).returncode:
        pytest.skip("not a git checkout")
    _old_scripts(scratch)
    if left_running:
        # An earlier run.sh killed with -9: its servers are still running.
        old = _Script(scratch, "exec bash scripts/services.sh start run")
        old.wait_for(r"Services are up", timeout=120)
        os.kill(old.proc.pid, signal.SIGKILL)
        old.proc.wait(10)
    else:
        old = _services(scratch, "check", "run")
        assert old.returncode == 0, old.stderr
    shutil.rmtree(scratch / "scripts")
    shutil.copytree(ROOT / "scripts", scratch / "scripts")

    checked = _services(scratch, "check", "run")
    assert checked.returncode == 0, checked.stderr
    assert "Setting a password on PostgreSQL" in checked.stderr
    if left_running:
        assert "Setting a password on Redis" in checked.stderr
    assert "Service check passed" in checked.stderr
    hba = (scratch / "var" / "postgres" / "data" / "pg_hba.conf").read_text()
    assert not re.search(r"^\s*(local|host)\s.*\strust\s*$", hba, re.M)
    assert "requirepass " in (scratch / "var" / "redis" / "redis.conf").read_text()

    # And the next start, from the data on disk, gets in with the passwords.
    again = _Script(scratch, "exec bash scripts/services.sh start run")
    try:
        again.wait_for(r"Services are up", timeout=120)
        port = (scratch / "var" / "postgres" / "data" / "postmaster.pid").read_text()
        url = f"postgres://postgres@127.0.0.1:{port.splitlines()[3]}/anju"
        assert not _psql(url, user="nobody")
        redis_port = (scratch / "var" / "redis" / "port").read_text().strip()
        assert _redis(redis_port, "ping", user="nobody").startswith("NOAUTH")
    finally:
        again.proc.send_signal(signal.SIGTERM)
        again.proc.wait(60)


@needs_root
def test_services_stop_after_a_kill_removes_the_socket_folder_it_used(scratch):
    """A checkout whose path cannot hold PostgreSQL's socket (a space) gets a
    /tmp/anju-pgsock.* folder; `services.sh stop` after a kill -9 removes it."""
    started = _Script(scratch, "exec bash scripts/services.sh start run")
    try:
        started.wait_for(r"Services are up", timeout=120)
        var = scratch / "var"
        # var/: nobody else lists it; the postgres user (group) only passes through.
        assert stat.S_IMODE(var.stat().st_mode) == 0o710
        assert var.group() == "postgres"
        assert stat.S_IMODE((var / "postgres").stat().st_mode) == 0o700
        port = (var / "redis" / "port").read_text().strip()
        subprocess.run(
            ["redis-cli", "-p", port, "save"],
            env={
                **_env(),
                "REDISCLI_AUTH": (var / "redis" / "password").read_text().strip(),
            },
            capture_output=True,
            timeout=10,
        )
        assert (var / "redis" / "dump.rdb").exists()
        assert stat.S_IMODE((var / "redis").stat().st_mode) == 0o700
        readable = [
            str(f.relative_to(var))
            for f in (var / "redis").rglob("*")
            if f.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
        ]
        assert readable == []
        pidfile = var / "postgres" / "data" / "postmaster.pid"
        lines = pidfile.read_text().splitlines()
        postmaster, sockdir = int(lines[0]), lines[4]
        assert sockdir.startswith("/tmp/anju-pgsock.")
        assert (scratch / "var" / "run" / "run.lock").exists()
        os.kill(started.proc.pid, signal.SIGKILL)
        started.proc.wait(10)
        assert _alive(postmaster)
        done = _services(scratch, "stop")
        assert done.returncode == 0, done.stderr
        assert _wait_gone(postmaster)
        assert not Path(sockdir).exists()
    finally:
        if started.proc.poll() is None:
            started.proc.send_signal(signal.SIGTERM)
            started.proc.wait(60)


def _bind(host: str, port: int) -> str:
    done = subprocess.run(
        [
            "bash",
            "-c",
            'source scripts/lib.sh; anju_bind_address "$1" "$2"',
            "-",
            host,
            str(port),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_bind_addresses_put_an_ipv6_host_in_brackets():
    assert _bind("127.0.0.1", 8000) == "127.0.0.1:8000"
    assert _bind("0.0.0.0", 8001) == "0.0.0.0:8001"
    assert _bind("::", 8001) == "[::]:8001"
    assert _bind("::1", 8000) == "[::1]:8000"
    assert _bind("[::1]", 8000) == "[::1]:8000"
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert '--bind "$HOST:' not in run_sh
    assert run_sh.count('--bind "$(anju_bind_address "$HOST"') == 2


def _free_port_v6() -> int:
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_event_stream_server_starts_with_an_ipv6_host_as_run_sh_passes_it():
    live_port = _free_port_v6()
    proc = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "crm_site.live_server:application",
            "--bind",
            _bind("::", live_port),  # HOST=:: scripts/run.sh
            "--config",
            str(ROOT / "scripts" / "gunicorn_live.conf.py"),
        ],
        cwd=ROOT,
        env={**os.environ, "LIVE_WORKERS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        listening = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("::1", live_port), timeout=0.5).close()
                listening = True
                break
            except OSError:
                time.sleep(0.2)
        err = "" if proc.poll() is None else proc.stderr.read()
        assert listening, f"the event-stream server did not start: {err.strip()}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def login_shell_umask():
    old = os.umask(0o022)  # a login shell's default, which run.sh keeps
    yield
    os.umask(old)


def test_an_uploaded_customer_list_is_not_world_readable(
    administrator, settings, tmp_path, login_shell_umask
):
    settings.MEDIA_ROOT = tmp_path / "media"
    upload = SimpleUploadedFile(
        "客户.csv",
        "姓名,手机,证件号码\n黄药师,13522223333,11010519491231002X\n".encode(),
        content_type="text/csv",
    )
    job = imports.import_upload(actor=administrator, uploaded_file=upload)
    mode = os.stat(job.file.path).st_mode
    assert stat.S_IMODE(mode) == 0o600, stat.filemode(mode)
    parent = os.stat(os.path.dirname(job.file.path)).st_mode
    assert stat.S_IMODE(parent) == 0o700, stat.filemode(parent)


# scripts/run.sh end to end, with its programs stubbed: a .venv whose python records
# each `manage.py` command (and serves the page server's port), whose gunicorn and
# celery only sleep. PostgreSQL and Redis are real when the script starts them.

FAKE_PYTHON = r"""#!/usr/bin/env bash
case "${1:-}" in
  manage.py)
    echo "manage.py ${*:2}" >>"$ANJU_FAKE_LOG"
    exit 0
    ;;
  */page_server.py)
    exec "$ANJU_REAL_PYTHON" -c '
import socket, sys
host, _, port = sys.argv[sys.argv.index("--bind") + 1].rpartition(":")
s = socket.create_server((host.strip("[]"), int(port)), reuse_port=True)
while True:
    s.accept()[0].close()
' "$@"
    ;;
esac
exec "$ANJU_REAL_PYTHON" "$@"
"""


def _requirements_stamp(path: Path) -> str:
    """The line anju_ensure_venv writes once run mode's requirements are installed."""
    text = (path / "requirements.txt").read_bytes()
    line = f"{hashlib.sha256(text).hexdigest()}  requirements.txt\n"
    return f"runtime {hashlib.sha256(line.encode()).hexdigest()}\n"


@pytest.fixture
def stubbed(scratch):
    """The scratch root with manage.py, the requirements and a stubbed .venv."""
    (scratch / "manage.py").write_text("")
    (scratch / "requirements.txt").write_text("Django\n")
    (scratch / "requirements-dev.txt").write_text("-r requirements.txt\n")
    bin_dir = scratch / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(FAKE_PYTHON)
    for name in ("gunicorn", "celery"):
        (bin_dir / name).write_text("#!/bin/sh\nexec sleep 600\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    (scratch / ".venv" / ".anju-requirements").write_text(_requirements_stamp(scratch))
    return scratch


def _free_port_pair() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def _run_sh(path: Path, **env: str) -> tuple[str, list[str]]:
    """Start scripts/run.sh until it says it is running, stop it; its output and the
    manage.py commands it ran."""
    log = path / "manage-commands.log"
    log.unlink(missing_ok=True)
    port = _free_port_pair()
    proc = subprocess.Popen(
        ["bash", "scripts/run.sh"],
        cwd=path,
        env={
            **_env(),
            "PORT": str(port),
            "ANJU_FAKE_LOG": str(log),
            "ANJU_REAL_PYTHON": sys.executable,
            **env,
        },
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if any("Anju CRM is running" in line for line in out):
                break
            time.sleep(0.1)
        assert any("Anju CRM is running" in line for line in out), "".join(out)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        reader.join(5)
    commands = log.read_text().splitlines() if log.exists() else []
    return "".join(out), commands


EXTERNAL = {
    "DATABASE_URL": "postgres://crm:someones-password@db.example.internal:5432/crm",
    "REDIS_URL": "redis://127.0.0.1:6379/10",
}


@needs_root
def test_run_sh_loads_no_demo_data_into_a_database_given_by_database_url(stubbed):
    output, commands = _run_sh(stubbed, **EXTERNAL)
    assert "manage.py migrate --noinput" in commands
    assert not [c for c in commands if "demo_data" in c], commands
    assert "not loading the demo data and demo logins into that database" in output
    assert "ANJU_DEMO_DATA=1" in output
    assert "manage.py createsuperuser" in output
    # Nor does it print logins that do not exist there.
    assert "demo-pass-2026" not in output


@needs_root
def test_run_sh_loads_demo_data_into_a_given_database_only_when_asked(stubbed):
    output, commands = _run_sh(stubbed, ANJU_DEMO_DATA="1", **EXTERNAL)
    assert "manage.py demo_data" in commands
    assert "demo-pass-2026" in output


@needs_root
def test_run_sh_loads_demo_data_and_logins_into_its_own_database(stubbed):
    """The README's command: its own PostgreSQL, the demo data and logins as ever."""
    output, commands = _run_sh(stubbed, REDIS_URL=EXTERNAL["REDIS_URL"])
    assert "Starting PostgreSQL" in output
    assert commands[-1] == "manage.py demo_data", commands
    assert "admin              demo-pass-2026" in output
    assert "not loading the demo data" not in output


# No password on a command line: every local account reads every process's command
# line (ps, /proc/<pid>/cmdline). strace records each program the scripts start
# with its arguments (not its environment, where the passwords belong).

needs_strace = pytest.mark.skipif(not shutil.which("strace"), reason="needs strace")


def _command_lines(path: Path, *args: str, env: dict[str, str]) -> tuple[str, str]:
    """Run ``scripts/services.sh ARGS`` under strace: its output, and the argument
    lists of every program run on the way."""
    trace = path / "execve.trace"
    done = subprocess.run(
        [
            *("strace", "-f", "-qq", "-e", "trace=execve", "-s", "100000"),
            *("-o", str(trace), "bash", "scripts/services.sh", *args),
        ],
        cwd=path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr + done.stdout, trace.read_text()


@needs_root
@needs_strace
def test_services_check_puts_no_given_password_on_a_command_line(scratch):
    env = {
        **_env(),
        # The local server trusts its loopback: the password is only carried.
        "DATABASE_URL": "postgres://postgres:pg-Secret-7x@127.0.0.1:5432/postgres",
        "REDIS_URL": "redis://:redis-Secret-9y@127.0.0.1:6379/10",
    }
    output, argv = _command_lines(scratch, "check", "run", env=env)
    assert "Service check passed" in output
    assert "psql" in argv
    assert "pg-Secret-7x" not in argv
    assert "redis-Secret-9y" not in argv
    # Nor in the headings printed while checking (only the export lines carry them).
    checking = output.split("export REDIS_URL=", 1)[1].split("\n", 1)[1]
    assert "pg-Secret-7x" not in checking
    assert "redis-Secret-9y" not in checking


GENERATED_PASSWORD = re.compile(r"(?<![0-9a-f])[0-9a-f]{48}(?![0-9a-f])")


@needs_root
@needs_strace
def test_the_test_servers_and_their_replica_get_no_password_on_a_command_line(
    scratch,
):
    output, argv = _command_lines(scratch, "check", "test", env=_env())
    assert "Service check passed" in output
    assert "pg_basebackup" in argv
    assert "in recovery: t" in output
    assert not GENERATED_PASSWORD.findall(argv)


SUPERVISED_SERVICES = """
source scripts/lib.sh
anju_init run
anju_start_services
echo "services ready" >&2
anju_supervise_children
"""


def _postmaster(path: Path) -> tuple[int, str]:
    lines = (path / "var/postgres/data/postmaster.pid").read_text().splitlines()
    return int(lines[0]), lines[3]


def _wait_until(predicate, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, IndexError):
            if predicate():
                return True
        time.sleep(0.2)
    return False


@needs_root
def test_run_restarts_its_own_postgresql_and_redis_killed_with_a_back_off(scratch):
    started = subprocess.Popen(
        ["bash", "-c", SUPERVISED_SERVICES],
        cwd=scratch,
        env={**_env(), "ANJU_RESTART_MIN_DELAY": "1", "ANJU_RESTART_MAX_DELAY": "4"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    script = _Script.__new__(_Script)
    script.proc, script.err = started, []
    threading.Thread(
        target=lambda: script.err.extend(line.rstrip("\n") for line in started.stderr),
        daemon=True,
    ).start()
    var = scratch / "var"
    try:
        script.wait_for("services ready", timeout=120)
        pg_password = (var / "postgres/password").read_text().strip()
        redis_password = (var / "redis/password").read_text().strip()
        redis_port = (var / "redis/port").read_text().strip()
        postmaster, pg_port = _postmaster(scratch)
        redis_pid = int((var / "redis/redis.pid").read_text())
        url = f"postgres://postgres@127.0.0.1:{pg_port}/anju"

        os.kill(postmaster, signal.SIGKILL)
        os.kill(redis_pid, signal.SIGKILL)
        script.wait_for(rf"PostgreSQL \(pid {postmaster}\) .*restarting it in 1 s")
        script.wait_for(rf"Redis \(pid {redis_pid}\) .*restarting it in 1 s")
        script.wait_for(r"Restarted PostgreSQL \(pid \d+\)", timeout=60)
        script.wait_for(r"Restarted Redis \(pid \d+\)", timeout=60)
        # Where the page server, worker and beat look for them, with the passwords.
        assert _postmaster(scratch)[1] == pg_port
        assert _postmaster(scratch)[0] != postmaster
        assert _wait_until(lambda: _psql(url, password=pg_password))
        assert _redis(redis_port, "ping", password=redis_password) == "PONG"

        # A second crash soon after: the back-off doubles.
        redis_pid = int((var / "redis/redis.pid").read_text())
        os.kill(redis_pid, signal.SIGKILL)
        script.wait_for(rf"Redis \(pid {redis_pid}\) .*restarting it in 2 s")
        assert _wait_until(
            lambda: sum("Restarted Redis" in line for line in script.err) == 2
        ), script.err

        # Stopped on purpose (a clean shutdown removes the pid file): left stopped.
        redis_pid = int((var / "redis/redis.pid").read_text())
        os.kill(redis_pid, signal.SIGTERM)
        assert _wait_gone(redis_pid)
        script.wait_for(r"Redis was stopped, not by a crash: not restarting it")
        time.sleep(3)
        assert sum("Restarted Redis" in line for line in script.err) == 2
        postmaster = _postmaster(scratch)[0]
    finally:
        started.send_signal(signal.SIGTERM)
        started.wait(60)
    # And the restarted server is stopped with everything else.
    assert _wait_gone(postmaster)
