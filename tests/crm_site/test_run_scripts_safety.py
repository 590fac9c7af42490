"""scripts/run.sh and scripts/services.sh keep the local stack to themselves: one start
per checkout, a killed start's processes stopped by the next start or by
`services.sh stop` (and only those), an IPv6 HOST bound as the servers take it,
uploads readable by the CRM's own account only.

Each script test copies scripts/ into a throwaway root, so its var/ is its own.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
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
