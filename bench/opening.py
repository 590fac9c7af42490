#!/usr/bin/env python
"""Opening day's rush (issue 16): a first-come online session on the buyers' phones.

    REDIS_URL=... .venv/bin/python bench/opening.py
        [--buyers 2000] [--units 500] [--screens 300]
        [--workers 2] [--threads 16] [--port 8766]
        [--reload-grid] [--streams-with-pages] [--stream-port N]
        [--database-url postgres://... [--base-url http://127.0.0.1:8000]]
        [--pg-port 55433]

Goals: every unit sold once (units sold = units when demand exceeds supply), none sold
twice, no buyer over the limit, selection p95 ≤ 2 s under the rush, every screen
shows each sale within 2 s of its publication, no server error.

What it does:

1. The data, on a database of its own: a PostgreSQL server started for the bench in
   a temporary directory (initdb, port ``--pg-port``, max_connections 500: every
   page server thread keeps its connection, as in production, which is more than a
   shared server's default 100 leaves to others), migrated, and removed at the
   end; or ``--database-url``, a migrated database used as it is. A project of ``--units`` units (buildings of 25 floors × 4 units),
   ``--buyers`` buyers each with a deposit of intent (诚意金) entered in one open,
   first-come online session (one unit per buyer), and an owner-portal session per
   buyer, written directly (no SMS): a phone that has the page open.
2. The server: the page server (scripts/page_server.py, granian) with ``--workers`` ×
   ``--threads`` for the pages, and the event-stream server next to it on
   ``--port`` + 1 (crm_site.live_server, gunicorn's asgi worker), as scripts/run.sh
   starts them; or the server at ``--base-url`` (which must use that database, its
   Redis and its DJANGO_SECRET_KEY; ``--stream-port`` names its event-stream
   server). ``--streams-with-pages`` puts the screens on the page server as before.
   The Celery worker too (its pool niced, as scripts/run.sh starts it): it signs the
   subscriptions of the units the phones claimed.
3. ``--screens`` grid views open the session's event stream (the buyer's page,
   /portal/sales/opening/<entry>/live/), each reconnecting with Last-Event-ID as
   EventSource does, in a process of their own (so the buyers do not delay their
   clocks).
4. A few phones open the session page (the page server's threads then hold their
   database connections, as after the phones loaded the page before T0); then at
   one moment every buyer POSTs the confirm form of their first choice (a few
   units are everyone's favourites) with the CSRF token, as the phone's script does
   (Accept: application/json, static/js/opening_phone.js). A buyer told the unit was
   just sold reads the units still on sale from that answer and POSTs the next of
   its choices among them; it stops with a unit or when none is left.
   ``--reload-grid`` is the phone without its script: the plain form (with its
   one-time submission token), the redirect to the grid (~190 KB) after a lost
   race, and the next choice among the units the grid shows.

The client runs on event loops, not threads: it shares the server's two cores.

It prints units sold (from the database), units sold twice, buyers and households
over the limit, the selection POST's p50/p95/max (and the time from the start until
a buyer had their unit), the seconds from each sale's publication (its Redis
stream id) until the last screen received it (p50/p95/max over the sales) and sales
some screen never received, server errors (5xx or a broken connection), and for
each goal whether it is met; then how many subscriptions were signed (the deal
subscribed on the unit, the deposit applied) and when the last one was, and the CPU
seconds each kind of process used during the rush (from /proc). The page server
logs each request's time inside it (its access log, in the bench's server log).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    ROOT,
    django_setup,
    live_server_command,
    mobile_for_index,
    page_server_command,
    quit_servers,
)

GOAL_SECONDS = 2.0
FLOORS, PER_FLOOR = 25, 4
LAYOUTS = ["两室两厅一卫", "三室两厅两卫", "三室两厅两卫", "四室两厅两卫"]
AREAS = ["89", "115", "128", "143"]
AVAILABLE = re.compile(r'data-unit-id="(\d+)" data-status="available"')
CSRF = "b" * 32
SERVER_LOG = (
    Path(tempfile.gettempdir()) / "anju-opening-server.log"
)  # an unmasked CSRF secret: cookie and form field agree
LIVE_LOG = Path(tempfile.gettempdir()) / "anju-opening-live.log"
WORKER_LOG = Path(tempfile.gettempdir()) / "anju-opening-worker.log"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# The database ----------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL server of the bench's own, in a temporary directory: the rush
    holds hundreds of connections (each page server thread keeps one, as in
    production), more than a shared server's default 100 leaves to others."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = Path(tempfile.mkdtemp(prefix="anju-opening-pg-"))
        self.data = self.base / "data"
        self.bin = self._bin()

    @staticmethod
    def _bin() -> Path:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            sys.exit(
                "initdb not found (/usr/lib/postgresql/*/bin): pass --database-url"
            )
        return found[-1].parent

    def _run(self, *command: str) -> None:
        # initdb and postgres refuse to run as root.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *command], check=True, stdout=subprocess.DEVNULL, cwd="/"
        )

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
            " -c max_connections=500 -c shared_buffers=256MB"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
            "-l", str(self.base / "postgres.log"), "-o", options, "start",
        )  # fmt: skip
        self._run(
            str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", "anju_opening",
        )  # fmt: skip
        url = f"postgres://postgres@127.0.0.1:{self.port}/anju_opening"
        log(f"PostgreSQL of the bench's own on port {self.port}: migrating")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            check=True,
        )
        return url

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                "stop",
            )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)


def build(buyers: int, units: int) -> dict:
    """The project, units, buyers, deposits, entries and the open session."""
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from crm_site.models import User
    from crm_site.roles import Role
    from customers.models import Customer
    from sales.models import (
        IntentDeposit,
        Project,
        SelectionSession,
        SessionEntry,
        SessionUnit,
        Unit,
    )
    from sales.services import building_generate

    manager, _ = User.objects.get_or_create(
        username="bench_opening_manager", defaults={"last_name": "开盘经理"}
    )
    manager.groups.add(Group.objects.get(name=Role.SALES_MANAGER.value))
    consultant, _ = User.objects.get_or_create(
        username="bench_opening_consultant", defaults={"last_name": "置业顾问"}
    )
    consultant.groups.add(Group.objects.get(name=Role.CONSULTANT.value))
    stamp = time.strftime("%m%d%H%M%S")
    project = Project.objects.create(name=f"开盘压测苑 {stamp}", city="苏州")
    per_building = FLOORS * PER_FLOOR
    for n in range((units + per_building - 1) // per_building):
        building_generate(
            actor=manager,
            project=project,
            name=f"{n + 1}号楼",
            floors=FLOORS,
            units_per_floor=PER_FLOOR,
            skipped_floors=[],
            layouts=LAYOUTS,
            gross_areas=[Decimal(a) for a in AREAS],
            base_price=Decimal(21000 + 500 * n),
            floor_increment=Decimal("150"),
        )
    unit_ids = list(
        Unit.objects.filter(building__project=project)
        .order_by("building__name", "floor", "position")
        .values_list("pk", flat=True)[:units]
    )
    seed = int(stamp)
    customers = Customer.objects.bulk_create(
        Customer(
            name=f"抢房客{n:04d}",
            mobile=mobile_for_index(n, prefixes=["139", "158"], seed=seed % 9973),
            stage=Customer.Stage.PROSPECT,
            source=Customer.Source.WALK_IN,
            assigned_consultant=consultant,
        )
        for n in range(buyers)
    )
    deposits = IntentDeposit.objects.bulk_create(
        IntentDeposit(
            project=project,
            customer=customer,
            consultant=consultant,
            amount=Decimal("50000.00"),
            receipt_number=f"B{n + 1:05d}",
            method="transfer",
            queue_number=n + 1,
            created_by=consultant,
        )
        for n, customer in enumerate(customers)
    )
    session = SelectionSession.objects.create(
        project=project,
        name="首开 线上抢选",
        starts_at=timezone.now(),
        mode=SelectionSession.Mode.ONLINE,
        order=SelectionSession.Order.FIRST_COME,
        status=SelectionSession.Status.OPEN,
        opened_at=timezone.now(),
        units_per_buyer=1,
        units_per_household=1,
        created_by=manager,
    )
    SessionUnit.objects.bulk_create(
        SessionUnit(session=session, unit_id=pk) for pk in unit_ids
    )
    entries = SessionEntry.objects.bulk_create(
        SessionEntry(session=session, deposit=d, position=n + 1)
        for n, d in enumerate(deposits)
    )
    return {
        "session": session.pk,
        "units": unit_ids,
        "buyers": [(e.pk, c.pk) for e, c in zip(entries, customers, strict=True)],
    }


def owner_cookies(customer_ids: list[int]) -> list[str]:
    """An owner session per buyer, as a phone that has the page open holds: signed
    in, eligibility just checked."""
    from django.utils import timezone

    from crm_site import portal

    cookies = []
    now = timezone.now().timestamp()
    for pk in customer_ids:
        session = portal.SessionStore()
        session[portal.OWNER_KEY] = pk
        session[portal.SIGNED_IN_AT_KEY] = timezone.now().isoformat()
        session[portal.REMEMBERED_KEY] = False
        session[portal.HOUSEHOLD_KEY] = [pk]
        session[portal.CHECKED_AT_KEY] = now
        session.set_expiry(3600)
        session.save()
        cookies.append(session.session_key)
    return cookies


# The client -------------------------------------------------------------------------
#
# The buyers and the screens run on event loops (asyncio), not on threads: the client
# shares the server's two cores, and 2,300 Python threads taking turns at one
# interpreter lock cost more CPU than the server's answers, and delayed the clocks
# that measure them.


async def http_request(
    host: str, port: int, method: str, path: str, headers: dict, body: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection (Connection: close, as a phone's first
    request after a while), read to the end."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        data = body.encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head += ["Connection: close", f"Content-Length: {len(data)}", "", ""]
        writer.write("\r\n".join(head).encode() + data)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    header_text, _sep, content = raw.partition(b"\r\n\r\n")
    lines = header_text.decode("latin-1").split("\r\n")
    if not lines or len(lines[0].split()) < 2:
        raise ConnectionError("no answer")
    status = int(lines[0].split()[1])
    found = {}
    for line in lines[1:]:
        name, _c, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    if found.get("transfer-encoding") == "chunked":
        content = _unchunk(content)
    return status, found, content


def _unchunk(data: bytes) -> bytes:
    out, at = bytearray(), 0
    while True:
        end = data.index(b"\r\n", at)
        size = int(data[at:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2 : end + 2 + size]
        at = end + 2 + size + 2


class Screen:
    """One grid view: the session's event stream, reopened with the last id seen."""

    def __init__(self, host: str, port: int, path: str, cookie: str) -> None:
        self.host, self.port, self.path, self.cookie = host, port, path, cookie
        self.seen: dict[str, float] = {}  # event id -> when received
        self.ready = asyncio.Event()
        self.failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        from django.conf import settings

        last = ""
        while not stop.is_set():
            writer = None
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                head = [
                    f"GET {self.path} HTTP/1.1",
                    f"Host: {self.host}:{self.port}",
                    f"Cookie: {settings.PORTAL_SESSION_COOKIE}={self.cookie}",
                    "Accept: text/event-stream",
                ]
                if last:
                    head.append(f"Last-Event-ID: {last}")
                writer.write(("\r\n".join([*head, "", ""])).encode())
                await writer.drain()
                status_line = await reader.readline()
                if b" 200 " not in status_line:
                    self.failures += 1
                    raise OSError(f"stream answered {status_line!r}")
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass  # the headers
                event_id = name = ""
                while not stop.is_set():
                    line = await reader.readline()
                    if not line:
                        break
                    text = line.decode().rstrip("\r\n")
                    if text.startswith("retry:"):
                        self.ready.set()
                    elif text.startswith("id: "):
                        event_id = text[4:]
                    elif text.startswith("event: "):
                        name = text[7:]
                    elif text == "" and event_id:
                        if name == "sold" and event_id not in self.seen:
                            self.seen[event_id] = time.time()
                        last, event_id = event_id, ""
            except (OSError, ValueError):
                await asyncio.sleep(0.2)
            finally:
                if writer is not None:
                    writer.close()


def screens_process(host, port, streams, ready, stop, results) -> None:
    """The screens, in their own process: reports {event id: [receipt times]}.

    In a session of its own: the kernel's autogroup scheduling (on by default) shares
    the CPU between sessions first, and the screens, devices of their own in a real
    rush, would otherwise share one group with the buyers, which take most of it."""
    os.setsid()

    async def main() -> None:
        halt = asyncio.Event()
        screens = [Screen(host, port, path, cookie) for path, cookie in streams]
        tasks = []
        for screen in screens:
            # Screens are opened over a few seconds, as people open their pages.
            tasks.append(asyncio.ensure_future(screen.run(halt)))
            await asyncio.sleep(0.02)
        waits = [asyncio.wait_for(s.ready.wait(), 30) for s in screens]
        opened = sum(
            1 for r in await asyncio.gather(*waits, return_exceptions=True) if r
        )
        ready.put(opened)
        await asyncio.to_thread(stop.wait)
        halt.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        seen: dict[str, list[float]] = {}
        for screen in screens:
            for event_id, when in screen.seen.items():
                seen.setdefault(event_id, []).append(when)
        results.put(
            {
                "seen": seen,
                "failures": sum(s.failures for s in screens),
                "n": len(screens),
            }
        )

    asyncio.run(main())


# The buyers --------------------------------------------------------------------------


class Buyer:
    def __init__(self, bench: Rush, index: int, entry: int, cookie: str, prefs):
        self.bench, self.index, self.entry, self.cookie = bench, index, entry, cookie
        self.prefs: list[int] = prefs
        self.got: int | None = None
        self.posts: list[float] = []
        self.grids: list[float] = []
        self.errors: list[str] = []
        self.done_after: float | None = None
        self.lost = 0

    async def _request(
        self, method: str, path: str, body: str = ""
    ) -> tuple[int, str, str]:
        bench = self.bench
        headers = {"Cookie": f"{bench.cookie_name}={self.cookie}; csrftoken={CSRF}"}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            if not bench.reload_grid:
                # As the phone's script asks (static/js/opening_phone.js).
                headers["Accept"] = "application/json"
        status, found, content = await asyncio.wait_for(
            http_request(bench.host, bench.port, method, path, headers, body), 120
        )
        return status, found.get("location", ""), content.decode()

    async def open_page(self) -> int:
        """The session page, as the phone shows it while it waits for T0."""
        status, _location, _text = await self._request(
            "GET", f"{self.bench.prefix}{self.entry}/"
        )
        return status

    async def run(self) -> None:
        bench = self.bench
        await bench.go.wait()
        known_available: set[int] | None = None
        for _attempt in range(60):
            choice = next(
                (
                    u
                    for u in self.prefs
                    if known_available is None or u in known_available
                ),
                None,
            )
            if choice is None:
                return
            fields = {"csrfmiddlewaretoken": CSRF}
            if bench.reload_grid:
                # The plain form's one-time token; the phone's script sends none.
                fields["submission_token"] = secrets.token_urlsafe(24)
            body = urllib.parse.urlencode(fields)
            at = time.monotonic()
            try:
                status, location, text = await self._request(
                    "POST", f"{bench.prefix}{self.entry}/units/{choice}/", body
                )
            except (OSError, TimeoutError, ValueError) as exc:
                self.errors.append(f"POST {type(exc).__name__}")
                return
            self.posts.append(time.monotonic() - at)
            if not bench.reload_grid:
                if status != 200:
                    self.errors.append(f"POST {status}")
                    return
                answer = json.loads(text)
                if answer["result"] == "chosen":
                    self.got = choice
                    self.done_after = time.monotonic() - bench.started
                    return
                if answer["result"] != "taken":
                    return  # a refusal, not a race: this buyer cannot choose
                self.lost += 1
                # The phone chooses again among the units the answer says are left.
                known_available = set(answer["available"])
                continue
            if status != 302:
                self.errors.append(f"POST {status}")
                return
            if "/selections/" in location:
                self.got = choice
                self.done_after = time.monotonic() - bench.started
                return
            # Told it was just sold (or refused): the phone shows the grid again.
            at = time.monotonic()
            try:
                status, _loc, text = await self._request(
                    "GET",
                    urllib.parse.urlsplit(location).path
                    + "?"
                    + urllib.parse.urlsplit(location).query,
                )
            except (OSError, TimeoutError, ValueError) as exc:
                self.errors.append(f"GET {type(exc).__name__}")
                return
            self.grids.append(time.monotonic() - at)
            if status != 200:
                self.errors.append(f"GET {status}")
                return
            if "taken=" not in location:
                return  # a refusal, not a race: this buyer cannot choose
            known_available = {int(pk) for pk in AVAILABLE.findall(text)}


class Rush:
    def __init__(
        self, host: str, port: int, cookie_name: str, *, reload_grid: bool = False
    ) -> None:
        self.host, self.port, self.cookie_name = host, port, cookie_name
        self.reload_grid = reload_grid
        self.prefix = "/portal/sales/opening/"
        self.go = asyncio.Event()
        self.started = 0.0
        self.started_wall = 0.0
        self.cpu: dict[str, float] = {}


def preferences(rng: random.Random, units: list[int]) -> list[int]:
    """A buyer's choices: a tenth of the units draw half the first choices (the
    south-facing high floors everyone wants), then the rest in a random order."""
    hot = units[: max(1, len(units) // 10)]
    first = rng.choice(hot) if rng.random() < 0.5 else rng.choice(units)
    rest = [u for u in units if u != first]
    rng.shuffle(rest)
    return [first, *rest]


# The run -----------------------------------------------------------------------------


def _wait_for(proc: subprocess.Popen, port: int, what: str) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited during startup")
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not start")


def _spawn(command: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    """A server of the bench in its own process group, its output in ``log_path``."""
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=open(log_path, "w"),  # the process holds it open
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_live_server(args, database_url: str) -> subprocess.Popen:
    """The event-stream server, as scripts/run.sh starts it (crm_site.live_server)."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SECURE_HTTPS": "false"}
    proc = _spawn(
        live_server_command(f"127.0.0.1:{args.port + 1}", extra=("--backlog", "4096")),
        env,
        LIVE_LOG,
    )
    _wait_for(proc, args.port + 1, "the event-stream server")
    return proc


def start_server(args, database_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SECURE_HTTPS": "false",
    }
    if args.streams_with_pages:
        # The screens' streams may take every thread, as before the event-stream
        # server (a page server serves half its threads to streams by default).
        env["LIVE_THREADED_STREAMS"] = str(args.threads)
    # The pages name their static files through the manifest (debug off).
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    proc = _spawn(
        page_server_command(
            f"127.0.0.1:{args.port}",
            args.workers,
            threads=args.threads,
            extra=(
                "--backlog",
                "4096",
                "--log-level",
                "warning",
                # Each request's time inside the server (the access log is on, as
                # in production): the rush's queueing is the rest of a phone's wait.
                "--access-log-format",
                "%(method)s %(path)s %(status)d %(dt_ms).1f",
            ),
        ),
        env,
        # Kept to count what the server logged (an event it could not publish).
        SERVER_LOG,
    )
    _wait_for(proc, args.port, "the page server")
    return proc


def start_worker(database_url: str) -> subprocess.Popen:
    """The Celery worker, as scripts/run.sh starts it (its pool processes niced,
    CELERY_WORKER_NICE: background work gives the pages the CPU first): it signs the subscriptions of the units the phones
    claimed (sales.tasks.selection_complete), on the same two cores as the rush."""
    env = {**os.environ, "DATABASE_URL": database_url}
    proc = _spawn(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "crm_site",
            "worker",
            "--concurrency",
            "2",
            "--loglevel",
            "WARNING",
        ],
        env,
        WORKER_LOG,
    )
    time.sleep(3.0)
    if proc.poll() is not None:
        raise SystemExit(f"the Celery worker exited during startup: {WORKER_LOG}")
    return proc


def wait_signed(session_id: int, started_wall: float, limit: float = 300.0) -> float:
    """Seconds from the rush's start until the last claimed unit's subscription was
    signed (polled every 0.2 s); -1 if some were still unsigned after ``limit``."""
    from sales.models import Selection

    pending = Selection.objects.filter(
        session_id=session_id, cancelled_at=None, opportunity__isnull=True
    )
    deadline = time.time() + limit
    while time.time() < deadline:
        if not pending.exists():
            return time.time() - started_wall
        time.sleep(0.2)
    return -1.0


def cpu_by_process() -> dict[str, float]:
    """CPU seconds used so far by each kind of process on the machine (from /proc):
    where the two cores go during the rush."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        pid, parent = int(entry.name), int(fields[1])
        if pid == me:
            kind = "client: buyers"
        elif "page_server.py" in command:
            kind = "page server"
        elif parent == me and "python" in command and "gunicorn" not in command:
            kind = "client: screens"
        elif "live_server" in command:
            kind = "event-stream server"
        elif "celery" in command:
            kind = "Celery worker"
        elif command.startswith("postgres") or "postgres:" in command:
            kind = "PostgreSQL"
        elif "redis-server" in command:
            kind = "Redis"
        else:
            kind = "other"
        totals[kind] = totals.get(kind, 0.0) + seconds
    return totals


def check(session_id: int) -> dict:
    from django.db import connection
    from django.db.models import F

    from sales.models import IntentDeposit, Opportunity, Selection, SessionUnit, Unit

    live = Selection.objects.filter(session_id=session_id, cancelled_at=None)
    units = SessionUnit.objects.filter(session_id=session_id).values("unit_id")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT unit_id FROM sales_selection"
            " WHERE session_id = %s GROUP BY unit_id HAVING count(*) > 1) t",
            [session_id],
        )
        twice_selected = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM (SELECT entry_id FROM sales_selection"
            " WHERE session_id = %s AND cancelled_at IS NULL"
            " GROUP BY entry_id HAVING count(*) > 1) t",
            [session_id],
        )
        over_limit = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM (SELECT household_id FROM sales_selection"
            " WHERE session_id = %s AND cancelled_at IS NULL"
            " AND household_id IS NOT NULL"
            " GROUP BY household_id HAVING count(*) > 1) t",
            [session_id],
        )
        households_over = cursor.fetchone()[0]
    deals_on = (
        Opportunity.objects.filter(
            unit_id__in=units, stage=Opportunity.Stage.SUBSCRIBED
        )
        .values("unit_id")
        .order_by()
    )
    twice_deals = len(deals_on) - len({row["unit_id"] for row in deals_on})
    signed = live.filter(
        opportunity__stage=Opportunity.Stage.SUBSCRIBED,
        opportunity__unit_id=F("unit_id"),
        entry__deposit__status=IntentDeposit.Status.APPLIED,
        entry__deposit__opportunity_id=F("opportunity_id"),
    ).count()
    return {
        "signed": signed,
        "sold": live.count(),
        "subscribed_units": Unit.objects.filter(
            pk__in=units, status=Unit.Status.SUBSCRIBED
        ).count(),
        "twice": twice_selected + twice_deals,
        "over_limit": over_limit,
        "households_over": households_over,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--screens", type=int, default=300)
    # The page server's threads serve pages only (the streams have their own
    # server). Since the lane answers most of the rush in ~1.5 ms, 16 threads per
    # worker (to overlap the waits on PostgreSQL) did best, with 2 to 4 workers
    # within the runs' spread (README, "The rush, measured").
    # --streams-with-pages needs threads for the streams too (4 × 90 before).
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--pg-port", type=int, default=55433)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--base-url")
    parser.add_argument("--database-url")
    parser.add_argument("--seed", type=int, default=16)
    # The phone before its script read the JSON answer: a plain form post, and a
    # lost race followed to the grid page (~190 KB), read for what is left.
    parser.add_argument("--reload-grid", action="store_true")
    # The screens on the page server, as before the event-stream server.
    parser.add_argument("--streams-with-pages", action="store_true")
    # With --base-url: the port of that server's event-stream server.
    parser.add_argument("--stream-port", type=int)
    args = parser.parse_args()
    if args.base_url and not args.database_url:
        sys.exit("--base-url needs --database-url: the database that server uses")
    private = None if args.database_url else PrivatePostgres(args.pg_port)
    try:
        database_url = args.database_url or private.start()
        os.environ["DATABASE_URL"] = database_url
        return run(args)
    finally:
        if private is not None:
            private.stop()


def run(args) -> int:
    database_url = os.environ["DATABASE_URL"]
    django_setup()
    from django.conf import settings
    from django.db import connections

    log(f"building {args.units} units and {args.buyers} buyers")
    data = build(args.buyers, args.units)
    session_id, units = data["session"], data["units"]
    proc = live_proc = worker = None
    if args.base_url:
        parts = urllib.parse.urlsplit(args.base_url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("--base-url must be a loopback address")
        host, port = parts.hostname, parts.port or 80
        stream_port = args.stream_port or port
    else:
        log(
            f"starting the page server: {args.workers} workers × {args.threads} threads"
        )
        proc = start_server(args, database_url)
        host, port = "127.0.0.1", args.port
        stream_port = port
        if not args.streams_with_pages:
            log(f"starting the event-stream server on port {port + 1}")
            live_proc = start_live_server(args, database_url)
            stream_port = port + 1
        log("starting the Celery worker (the subscriptions' paperwork)")
        worker = start_worker(database_url)
    buyers = data["buyers"]
    cookies = owner_cookies([customer for _entry, customer in buyers])
    connections.close_all()

    mp = multiprocessing.get_context("fork")
    ready, results, stop = mp.Queue(), mp.Queue(), mp.Event()
    streams = [
        (f"/portal/sales/opening/{entry}/live/", cookie)
        for (entry, _customer), cookie in zip(
            buyers[: args.screens], cookies[: args.screens], strict=True
        )
    ]
    screens = mp.Process(
        target=screens_process,
        args=(host, stream_port, streams, ready, stop, results),
    )
    try:
        screens.start()
        opened = ready.get(timeout=120)
        log(f"{opened} of {len(streams)} screens listening")

        rng = random.Random(args.seed)
        prefs = [preferences(rng, units) for _ in buyers]

        async def rush_all() -> tuple[Rush, list[Buyer]]:
            rush = Rush(
                host,
                port,
                settings.PORTAL_SESSION_COOKIE,
                reload_grid=args.reload_grid,
            )
            team = [
                Buyer(rush, n, entry, cookie, prefs[n])
                for n, ((entry, _customer), cookie) in enumerate(
                    zip(buyers, cookies, strict=True)
                )
            ]
            # Phones sit on the session page before T0: the page server has served
            # them, so its threads hold their database connections (a server that
            # has answered nothing yet spent the rush's first second connecting).
            warm = team[: args.workers * args.threads * 2]
            pages = await asyncio.gather(
                *(buyer.open_page() for buyer in warm), return_exceptions=True
            )
            log(f"{sum(1 for p in pages if p == 200)} phones opened the session page")
            tasks = [asyncio.ensure_future(buyer.run()) for buyer in team]
            await asyncio.sleep(1.0)
            log(f"{len(team)} buyers choose at once")
            cpu_before = cpu_by_process()
            rush.started = time.monotonic()
            rush.started_wall = time.time()
            rush.go.set()
            await asyncio.wait(tasks, timeout=600)
            rush.cpu = {
                kind: seconds - cpu_before.get(kind, 0.0)
                for kind, seconds in cpu_by_process().items()
            }
            return rush, team

        rush, team = asyncio.run(rush_all())
        elapsed = time.monotonic() - rush.started
        time.sleep(GOAL_SECONDS + 1.0)  # the last sales' events on their way
        stop.set()
        report = results.get(timeout=60)
        screens.join(timeout=30)
        # A server at --base-url signs with its own worker.
        signed_after = wait_signed(session_id, rush.started_wall)
    finally:
        stop.set()
        if screens.is_alive():
            screens.terminate()
        quit_servers(proc, live_proc, worker)

    facts = check(session_id)
    posts = [t for b in team for t in b.posts]
    grids = [t for b in team for t in b.grids]
    errors = [e for b in team for e in b.errors]
    got = [b.done_after for b in team if b.done_after is not None]
    # Each sale: publication (its Redis stream id, in ms) to the last screen's receipt.
    seen = report["seen"]
    lags, missed = [], 0
    for event_id, times in seen.items():
        published = int(event_id.split("-")[0]) / 1000
        lags.append(max(times) - published)
        missed += report["n"] - len(times)
    sales_heard = len(seen)

    def line(values: list[float]) -> str:
        if not values:
            return "none"
        return (
            f"p50 {statistics.median(values):.2f} s, p95 "
            f"{percentile(values, 0.95):.2f} s, max {max(values):.2f} s"
        )

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print()
    print(
        f"opening rush: {args.buyers} buyers, {len(units)} units, {report['n']} "
        f"screens; {'server ' + args.base_url if args.base_url else f'page server {args.workers} workers × {args.threads} threads'}; "
        f"{os.cpu_count()} CPUs; rush over in {elapsed:.1f} s"
    )
    print(
        f"units sold: {facts['sold']} (units subscribed {facts['subscribed_units']})"
        f" — {verdict(facts['sold'] == len(units) == facts['subscribed_units'])}"
    )
    print(
        f"  subscriptions signed (deal subscribed on the unit, deposit applied): "
        f"{facts['signed']} of {facts['sold']}, the last "
        + (
            f"{signed_after:.1f} s after the rush began"
            if signed_after >= 0
            else "still unsigned after 300 s"
        )
    )
    print(f"units sold twice: {facts['twice']} — {verdict(facts['twice'] == 0)}")
    print(
        f"buyers over their limit: {facts['over_limit']}, households over: "
        f"{facts['households_over']} — "
        f"{verdict(facts['over_limit'] == facts['households_over'] == 0)}"
    )
    print(
        f"selection POST ({len(posts)}): {line(posts)} — goal p95 ≤ {GOAL_SECONDS:.0f}"
        f" s {verdict(bool(posts) and percentile(posts, 0.95) <= GOAL_SECONDS)}"
    )
    if args.reload_grid:
        print(f"  grid reloaded after 'just sold' ({len(grids)}): {line(grids)}")
    else:
        print(f"  lost races answered with what is left: {sum(b.lost for b in team)}")
    print(f"  start of the rush → buyer has a unit ({len(got)}): {line(got)}")
    print(
        f"sale published → last screen shows it ({sales_heard} sales): {line(lags)}"
        f" — goal ≤ {GOAL_SECONDS:.0f} s "
        f"{verdict(bool(lags) and max(lags) <= GOAL_SECONDS and missed == 0 and sales_heard == facts['sold'])}"
    )
    print(
        f"  screen × sale never received: {missed}; stream failures "
        f"{report['failures']}"
    )
    unpublished = 0
    if proc is not None and SERVER_LOG.exists():
        unpublished = SERVER_LOG.read_text(errors="replace").count("not published")
        print(f"  sales whose event Redis did not take (server log): {unpublished}")
    print(
        "CPU seconds during the rush, by process: "
        + ", ".join(
            f"{kind} {seconds:.1f}"
            for kind, seconds in sorted(rush.cpu.items(), key=lambda kv: -kv[1])
            if seconds >= 0.05
        )
    )
    print(f"server errors: {len(errors)} — {verdict(not errors)}")
    if errors:
        kinds: dict[str, int] = {}
        for e in errors:
            kinds[e] = kinds.get(e, 0) + 1
        print(f"  {json.dumps(kinds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
