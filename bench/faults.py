#!/usr/bin/env python
"""Faults cost nothing (issue 11): break a running stack on purpose and measure.

Start the stack with its own PostgreSQL and Redis (scripts/run.sh), with the bench's
SMS gateway (every hand-over appended to a file with its idempotency key, so a second
hand-over shows; look-ups by key answered from the file), a campaign rate that sends
1,000 invitations in one batch, a short outbox stale limit (a row a crash left
"sending" is checked with the gateway after 30 s instead of 10 minutes) and the digest
hour coming up next:

    SMS_BACKEND=bench.faults.FileSmsBackend FAULTS_SMS_FILE=$PWD/var/faults-sms.log \\
    MARKETING_SEND_PER_MINUTE=1000 OUTBOX_STALE_AFTER_SECONDS=30 \\
    FOLLOW_UP_DIGEST_HOUR=<next hour> PORT=8611 scripts/run.sh

then, in another terminal, from the same checkout and with the same FAULTS_SMS_FILE,
OUTBOX_STALE_AFTER_SECONDS and FOLLOW_UP_DIGEST_HOUR:

    .venv/bin/python bench/faults.py --base-url http://127.0.0.1:8611 [--only a,b]

Scenarios (--list shows them with what each depends on): Redis stopped 60 s and Redis
hanging (SIGSTOP) — pages answered, p95, server errors; the worker killed (kill -9):
/health/ notices, and the middle of a 1,000-message campaign send and of a survey
batch — messages handed over once, twice, lost, parked (outcome unknown), and what
recovery made of the rows the crash left "sending"; beat down over the digest hour,
its schedule file removed — the digest delivered once after the restart by the
catch-up; PostgreSQL stopped and started — 503s, server errors, seconds to recovery.
A table is printed at the end and written to bench/out/faults.json (--out).

The gateway can be made slow (--gateway-delay: it has the message before it answers,
and --kill-at handed kills the worker in that window, the crash that used to send a
message twice) or unable to answer look-ups (--no-lookup: interrupted rows are parked).

The bench finds the stack's servers in var/ (as scripts/run.sh leaves them:
var/postgres, var/redis, var/run/children.<pid>); DATABASE_URL and REDIS_URL override
them. It talks only to 127.0.0.1, every loop is bounded in count and time, and it
leaves the servers running as it found them. Data it creates is tagged "faults-bench"
(campaign names, customer names, mobile numbers +86 199 9xxx xxxx).

The scenarios are written against crm_site.outbox (one outbox for every message,
docs/outbox.md) and crm_site.jobs (daily jobs with catch-up); the TARGETS table below
names every model, status, setting and task they touch, so a change of the sending
code means editing that table, not the scenarios.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
OUT = ROOT / "bench" / "out"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
TAG = "faults-bench"
DEMO_PASSWORD = "demo-pass-2026"
# Every loop stops after this many requests whatever its duration.
MAX_REQUESTS_PER_PROBE = 20_000

# What each sending scenario reads and calls: the names of crm_site.outbox (one outbox
# for every kind of message; docs/outbox.md) and crm_site.jobs (daily jobs with
# catch-up). A change of the sending code means editing here, not the scenarios.
OUTBOX = {
    "sent": ["sent"],
    "in_flight": ["pending", "sending"],
    # Claimed by a worker that died before it settled the row:
    "interrupted": ["sending"],
    # Checked with the provider after a crash and it could not say: parked for review,
    # never sent again blindly (neither lost nor sent twice; reported on their own).
    "parked": ["unknown"],
    "claimed_at_field": "claimed_at",
    "key_field": "idempotency_key",
    # Seconds after which a "sending" row counts as interrupted (the stack's setting;
    # start it with a low value so recovery happens within the run).
    "stale_after_setting": "OUTBOX_STALE_AFTER_SECONDS",
}
TARGETS = {
    "campaign": {
        **OUTBOX,
        "row_model": "marketing.Invitation",
        # Every minute: settles stale rows (invitations_recover), queues a batch per
        # campaign with pending rows.
        "sweep_task": "marketing.tasks.invitations_pump",
    },
    "survey": {
        **OUTBOX,
        "row_model": "service.SurveyInvitation",
        # Every 10 min: settles stale rows, one send task per due row.
        "sweep_task": "service.tasks.survey_invitations_send",
    },
    "digest": {
        **OUTBOX,
        "row_model": "sales.FollowUpDigest",
        "day_field": "day",
        "hour_setting": "FOLLOW_UP_DIGEST_HOUR",
        # The job and its guard: JobRun(name=job).last_period is the day it ran for.
        "job": "follow_up_digest",
        "job_model": "crm_site.JobRun",
        "job_task": "sales.tasks.follow_up_digest",
        "catch_up_task": "crm_site.tasks.jobs_catch_up",
        # Beat's entries (crm_site.settings.CELERY_BEAT_SCHEDULE): the crontab at the
        # hour and the catch-up sweep (every 5 min) that makes up a missed run.
        "beat_entry": "sales-follow-up-digest",
        "catch_up_entry": "jobs-catch-up",
        "catch_up_every_s": 300,
        # Beat's own record of its last runs, removed before beat is started again so
        # that the catch-up owes nothing to it.
        "beat_schedule_glob": "celerybeat-schedule*",
        "notification_model": "crm_site.Notification",
    },
}

PAGES = [
    "/sales/today/",
    "/customers/",
    "/customers/?q=%E7%8E%8B",
    "/sales/pool/",
    "/notifications/",
    "/sales/deals/",
    "/sales/deals/board/",
]


# --- The SMS backend the stack is started with ----------------------------------


class FileSmsBackend:
    """An SMS "gateway" for this bench: one line per hand-over in FAULTS_SMS_FILE,
    `SMS <message id> to <phone> key <idempotency key>`, written with O_APPEND by every
    process, so the file is the truth about what the CRM handed over, however often.

    It is not a crm_site.messaging.SmsBackend subclass (the stack imports it by its
    dotted path; the bench itself runs without Django until it needs the database),
    but it has the same interface: `send(phone, text, key=)` and `lookup(key)`.
    Like a gateway that keeps its clients' references, `lookup` answers from the file
    whether a message with that key was accepted (the outbox asks it about a row a
    crash left "sending"). `send` does not drop a repeated key: a second hand-over of
    the same message is written again, so the bench sees it and counts it as twice."""

    @staticmethod
    def _path() -> str:
        return os.environ.get("FAULTS_SMS_FILE", str(VAR / "faults-sms.log"))

    def send(self, phone: str, text: str, *, key: str = "") -> str:
        import uuid

        message_id = uuid.uuid4().hex
        line = f"SMS {message_id} to {phone} key {key or '-'}\n".encode()
        fd = os.open(self._path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        # --gateway-delay: the provider has the message, its answer is still on the
        # way (a slow gateway): a crash now leaves a row the provider did accept.
        try:
            delay = float(Path(self._path() + DELAY_SUFFIX).read_text())
        except (OSError, ValueError):
            delay = 0.0
        time.sleep(min(max(delay, 0.0), 5.0))
        return message_id

    def lookup(self, key: str):
        from crm_site.messaging import NOT_ACCEPTED, UNKNOWN, Accepted

        if Path(self._path() + NO_LOOKUP_SUFFIX).exists():
            return UNKNOWN  # --no-lookup: a gateway that cannot be asked
        if key:
            for message_id, _phone, line_key in sms_lines(Path(self._path())):
                if line_key == key:
                    return Accepted(message_id)
        return NOT_ACCEPTED


# While a file of this name sits next to the SMS file (bench option --no-lookup),
# lookup answers UNKNOWN, like a gateway without look-up: interrupted rows are parked.
NO_LOOKUP_SUFFIX = ".no-lookup"
# While a file of this name holds a number (--gateway-delay), send waits that many
# seconds after writing the message before it answers.
DELAY_SUFFIX = ".delay"

_SMS_LINE = re.compile(r"^SMS ([0-9a-f]{32}) to (\S+)(?: key (\S+))?$")


def sms_lines(path: Path):
    """(message id, phone, key) of every hand-over in the FileSmsBackend's file."""
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _SMS_LINE.match(line.rstrip("\n"))
            if m:
                yield m.group(1), m.group(2), m.group(3) or "-"


def sms_counts(path: Path, phones: set[str]) -> tuple[Counter, Counter]:
    """Hand-overs per phone among `phones`, and per (phone, key): the second shows the
    same message handed over twice, the first any second message to one person."""
    per_phone: Counter = Counter()
    per_key: Counter = Counter()
    for _message_id, phone, key in sms_lines(path):
        if phone in phones:
            per_phone[phone] += 1
            per_key[(phone, key)] += 1
    return per_phone, per_key


# --- The stack: where its servers and processes are -----------------------------


def _local(host: str | None) -> None:
    if host not in LOCAL_HOSTS:
        sys.exit(f"refusing to touch {host!r}: this bench only talks to 127.0.0.1")


def _pg_base() -> Path | None:
    import hashlib

    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    for base in (VAR / "postgres", Path(f"/tmp/anju-crm-{digest}/postgres")):
        if (base / "data" / "PG_VERSION").exists():
            return base
    return None


def _read_password(path: Path) -> str:
    """A password scripts/lib.sh keeps in a file, as ":<password>" ("" without one)."""
    try:
        password = path.read_text().strip()
    except OSError:
        return ""
    return f":{urllib.parse.quote(password, safe='')}" if password else ""


@dataclass
class Stack:
    base_url: str
    database_url: str
    redis_url: str
    pg_data: Path | None
    redis_dir: Path | None

    @classmethod
    def discover(cls, base_url: str) -> Stack:
        _local(urllib.parse.urlsplit(base_url).hostname)
        pg_base = _pg_base()
        pg_data = pg_base / "data" if pg_base else None
        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url and pg_data and (pg_data / "postmaster.pid").exists():
            port = (pg_data / "postmaster.pid").read_text().splitlines()[3].strip()
            # The password scripts/run.sh keeps next to the data (scripts/lib.sh).
            password = _read_password(pg_base / "password")
            database_url = f"postgres://postgres{password}@127.0.0.1:{port}/anju"
        redis_dir = VAR / "redis" if (VAR / "redis" / "redis.conf").exists() else None
        redis_url = os.environ.get("REDIS_URL", "")
        if not redis_url and redis_dir:
            port = (redis_dir / "port").read_text().strip()
            password = _read_password(redis_dir / "password")
            userinfo = f"{password}@" if password else ""
            redis_url = f"redis://{userinfo}127.0.0.1:{port}/0"
        if not database_url or not redis_url:
            sys.exit("no running stack found in var/: start scripts/run.sh first")
        for url in (database_url, redis_url):
            _local(urllib.parse.urlsplit(url).hostname)
        return cls(base_url.rstrip("/"), database_url, redis_url, pg_data, redis_dir)

    # Children of scripts/run.sh (var/run/children.<pid>: "pgid program name").

    def children(self) -> dict[str, int]:
        found = {}
        for f in sorted((VAR / "run").glob("children.*")):
            if not f.name.split(".")[-1].isdigit():
                continue
            for line in f.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[0].isdigit():
                    found[parts[2]] = int(parts[0])
        return found

    def child(self, name: str) -> int:
        pid = self.children().get(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running under scripts/run.sh")
        return pid

    def wait_child_restarted(self, name: str, old_pid: int, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            pid = self.children().get(name)
            if pid and pid != old_pid and _alive(pid):
                return time.monotonic() - started
            time.sleep(0.2)
        return float("nan")

    def hold(self, name: str, held: bool) -> None:
        """Tell scripts/run.sh not to restart `name` (var/run/hold-<name>)."""
        path = VAR / "run" / f"hold-{name}"
        if held:
            path.touch()
        else:
            path.unlink(missing_ok=True)

    # Redis (var/redis/redis.conf, as scripts/run.sh writes it).

    def redis_pid(self) -> int:
        return int((self.redis_dir / "redis.pid").read_text().strip())

    def redis_ping(self) -> bool:
        host, port = _host_port(self.redis_url, 6379)
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
                s.settimeout(0.5)
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def redis_stop(self) -> None:
        pid = self.redis_pid()
        os.kill(pid, signal.SIGTERM)
        _wait(lambda: not _alive(pid), 30, "Redis to stop")

    def redis_start(self) -> None:
        subprocess.run(
            ["redis-server", str(self.redis_dir / "redis.conf")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        _wait(self.redis_ping, 30, "Redis to answer")

    # PostgreSQL (var/postgres/data: pg_ctl as the postgres user when root).

    def _pg_ctl(self, *args: str) -> None:
        version = (self.pg_data / "PG_VERSION").read_text().strip()
        pg_ctl = f"/usr/lib/postgresql/{version}/bin/pg_ctl"
        cmd = [pg_ctl, "-D", str(self.pg_data), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(
            cmd,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
        )

    def pg_stop(self) -> None:
        # The options it was started with (port, socket directory) are kept for start.
        opts = (self.pg_data / "postmaster.opts").read_text().split(None, 1)[1]
        self._pg_opts = re.sub(r'"-D" "[^"]*" ?', "", opts).replace('"', "")
        self._pg_ctl("-m", "fast", "-w", "-t", "60", "stop")

    def pg_start(self) -> None:
        log = str(self.pg_data.parent / "postgres.log")
        self._pg_ctl("-w", "-t", "60", "-l", log, "-o", self._pg_opts, "start")


def _host_port(url: str, default: int) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# --- HTTP: a logged-in user walking pages ----------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def get(self, path: str, **headers: str) -> tuple[int, bytes, float]:
        request = urllib.request.Request(self.base_url + path, headers=headers)
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status, response.read(), time.monotonic() - started
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), time.monotonic() - started
        except (OSError, TimeoutError):
            return 0, b"", time.monotonic() - started  # no answer

    def login(self, username: str, password: str) -> None:
        status, body, _ = self.get("/accounts/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if status != 200 or not token:
            raise RuntimeError(f"login page answered {status}")
        data = urllib.parse.urlencode(
            {
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token.group(1).decode(),
            }
        ).encode()
        request = urllib.request.Request(
            self.base_url + "/accounts/login/",
            data=data,
            headers={"Referer": self.base_url + "/accounts/login/"},
        )
        try:
            self.opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 302:
                raise RuntimeError(f"login answered {exc.code}") from exc


@dataclass
class Sample:
    at: float
    path: str
    status: int
    seconds: float


@dataclass
class Probe:
    """Walks PAGES as a logged-in consultant in a thread until stopped (or bounded)."""

    browser: Browser
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, max_seconds: float) -> Probe:
        deadline = time.monotonic() + max_seconds

        def run() -> None:
            i = 0
            while not self._stop.is_set() and time.monotonic() < deadline:
                if len(self.samples) >= MAX_REQUESTS_PER_PROBE:
                    break
                path = PAGES[i % len(PAGES)]
                status, _body, seconds = self.browser.get(path)
                self.samples.append(Sample(time.monotonic(), path, status, seconds))
                i += 1
                time.sleep(0.05)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        if self._thread:
            self._thread.join(15)
        return self.samples


def summarise(samples: list[Sample]) -> dict:
    if not samples:
        return {"requests": 0}
    times = sorted(s.seconds for s in samples)
    statuses = Counter(s.status for s in samples)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {
        "requests": len(samples),
        "answered": sum(1 for s in samples if 200 <= s.status < 500),
        "server_errors": sum(1 for s in samples if s.status >= 500 and s.status != 503),
        "unavailable_503": statuses.get(503, 0),
        "no_answer": statuses.get(0, 0),
        "p50_s": round(statistics.median(times), 3),
        "p95_s": round(p95, 3),
        "max_s": round(times[-1], 3),
        "over_1s": sum(1 for t in times if t > 1.0),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


# --- Django, for the data the sending scenarios create and count -----------------


def django_setup(stack: Stack) -> None:
    os.environ["DATABASE_URL"] = stack.database_url
    os.environ["REDIS_URL"] = stack.redis_url
    sys.path.insert(0, str(ROOT / "bench"))
    import common

    common.django_setup()


def _model(label: str):
    from django.apps import apps

    return apps.get_model(label)


def _publish(task_name: str, *args) -> None:
    from crm_site.celery import app

    app.send_task(task_name, args=list(args))


def _bench_customers(n: int, prefix: str) -> list:
    """n customers with unique mobiles (+86 199 9xxx xxxx), SMS and service consent."""
    from customers.models import Customer

    start = Customer.objects.filter(name__startswith=TAG).count()
    rows = [
        Customer(
            name=f"{TAG}-{prefix}-{start + i}",
            mobile=f"+861999{start + i:07d}",
            consent_sms=True,
            consent_service=True,
            stage=Customer.Stage.PROSPECT,
            source=Customer.Source.WALK_IN,
        )
        for i in range(n)
    ]
    return Customer.objects.bulk_create(rows, batch_size=500)


def _row_states(target: dict, rows) -> dict:
    return dict(Counter(rows.values_list("status", flat=True)))


def _message_report(target: dict, rows, phones: dict[int, str], sms_file: Path):
    """Once / twice / lost / parked per bench customer, from the SMS file (what the
    "provider" was handed) checked against the rows (what the CRM recorded)."""
    per_phone, per_key = sms_counts(sms_file, set(phones.values()))
    key_field = target["key_field"]
    # The row of each customer: its state and key (one row per customer here).
    by_customer = {
        customer_id: (status, str(key))
        for customer_id, status, key in rows.values_list(
            _customer_path(rows.model), "status", key_field
        )
    }
    sent_once = twice = lost = parked = parked_delivered = 0
    sent_row_not_handed = handed_row_not_sent = 0
    for customer_id, phone in phones.items():
        status, key = by_customer.get(customer_id, ("", ""))
        handed = per_phone.get(phone, 0)
        if handed >= 2:
            twice += 1
        if status in target["parked"]:
            parked += 1
            parked_delivered += per_key.get((phone, key), 0) > 0
            continue
        if handed == 1:
            sent_once += 1
        elif handed == 0:
            lost += 1
        if status in target["sent"] and per_key.get((phone, key), 0) == 0:
            sent_row_not_handed += 1
        if status not in target["sent"] and per_key.get((phone, key), 0) > 0:
            handed_row_not_sent += 1
    return {
        "rows": rows.count(),
        "row_states": _row_states(target, rows),
        "messages_handed_over": sum(per_phone.values()),
        "sent_once": sent_once,
        "sent_twice_or_more": twice,
        # The same message (one idempotency key) handed over more than once.
        "same_key_twice": sum(1 for n in per_key.values() if n >= 2),
        "not_sent_lost": lost,
        "parked_unknown": parked,
        "parked_but_provider_had_it": parked_delivered,
        "row_sent_but_not_handed_over": sent_row_not_handed,
        "handed_over_but_row_not_sent": handed_row_not_sent,
    }


def _customer_path(model) -> str:
    """The lookup from an outbox row to its customer (campaign rows go by member)."""
    names = {f.name for f in model._meta.get_fields()}
    return "customer_id" if "customer" in names else "member__customer_id"


def _kill_moment(target: dict, rows, after: int, args) -> Callable[[], bool]:
    """When to kill: once `after` rows are sent and a row is claimed ("sending");
    with --kill-at handed, only once the provider has a claimed row's message (its
    key is in the SMS file) and the CRM has not recorded it sent: the crash that sent
    a message twice before the outbox."""
    sent = rows.filter(status__in=target["sent"])
    claimed = rows.filter(status__in=target["interrupted"])

    def check() -> bool:
        if sent.count() < after:
            return False
        keys = {str(k) for k in claimed.values_list(target["key_field"], flat=True)}
        if not keys:
            return False
        if args.kill_at == "claimed":
            return True
        return any(key in keys for _id, _phone, key in sms_lines(args.sms_file))

    return check


def _kill_worker_when(
    stack: Stack,
    check: Callable[[], bool],
    timeout: float,
    how: str,
    target: dict,
    rows,
    sms_file: Path,
) -> tuple[dict, list[int]]:
    """kill -9 the worker once `check` holds: its main process only ("main": the
    supervisor then stops its pool processes with SIGTERM, which finish their task),
    or its whole process group ("group": every process dies mid-task, as in a
    crash of the machine or an out-of-memory kill of the container). Returns the
    figures and the rows the crash left claimed ("sending" just after the kill)."""
    pid = stack.child("celery-worker")
    # Polled tightly: the aim is to kill while a row is claimed and not finished.
    _wait(check, timeout, "the send to be under way", interval=0.005)
    if how == "group":
        os.killpg(pid, signal.SIGKILL)
    else:
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    if how == "main":
        # The pool processes finish their task before the supervisor stops them.
        time.sleep(1)
    interrupted = list(
        rows.filter(status__in=target["interrupted"]).values_list("pk", flat=True)
    )
    keys = {str(k) for k in rows.values_list(target["key_field"], flat=True)}
    crash_keys = {
        str(k)
        for k in rows.filter(pk__in=interrupted).values_list(
            target["key_field"], flat=True
        )
    }
    in_file = [key for _id, _phone, key in sms_lines(sms_file) if key in keys]
    handed = len(in_file)
    # The dead worker writes nothing more: which claimed rows the provider already had.
    crash_handed = len(crash_keys.intersection(in_file))
    snapshot = time.monotonic() - killed
    sent_at_kill = rows.filter(status__in=target["sent"]).count()
    back = stack.wait_child_restarted("celery-worker", pid, 90)
    return {
        "kill": how,
        "killed_pid": pid,
        "kill_snapshot_after_s": round(snapshot, 2),
        "sent_rows_at_kill": sent_at_kill,
        "handed_over_at_kill": handed,
        "left_sending_by_crash": len(interrupted),
        # Of those, the provider already had (the crash came after the hand-over):
        # recovery must mark them sent, not send them again.
        "crash_rows_provider_had_at_kill": crash_handed,
        "worker_back_after_s": round(back, 1),
    }, interrupted


def _settle(target: dict, rows, timeout: float, poke: Callable[[], None]) -> float:
    """Wait until no row is in flight, poking the sweeper every 20 s (bounded)."""
    started = time.monotonic()
    last_poke = started
    while time.monotonic() - started < timeout:
        if not rows.filter(status__in=target["in_flight"]).exists():
            return time.monotonic() - started
        if time.monotonic() - last_poke > 20:
            poke()
            last_poke = time.monotonic()
        time.sleep(1)
    return float("nan")


def _recover(
    target: dict, rows, interrupted: list[int], poke: Callable[[], None], args
) -> dict:
    """Wait until no row is in flight: the stack sends the rest and settles the rows
    the crash left "sending" by itself (its sweeper, poked every 20 s, checks them with
    the provider once they are older than OUTBOX_STALE_AFTER_SECONDS), bounded by
    --send-timeout. Rows still "sending" then (a stack left with the default 10
    minutes) are aged past the limit and swept once: what happens 10 minutes later,
    without waiting 10 minutes (reported as aged_by_bench)."""
    from django.conf import settings
    from django.utils import timezone

    stale_after = timedelta(seconds=getattr(settings, target["stale_after_setting"]))
    started = time.monotonic()
    settled = _settle(target, rows, args.send_timeout, poke)
    aged = 0
    if settled != settled:  # nan: something still in flight
        aged = rows.filter(status__in=target["interrupted"]).update(
            **{
                target["claimed_at_field"]: timezone.now()
                - stale_after
                - timedelta(minutes=1)
            }
        )
        poke()
        settled = _settle(target, rows, 90, poke)
    return {
        "settled_after_s": None
        if settled != settled
        else round(time.monotonic() - started, 1),
        # What recovery made of the rows the crash left "sending": sent (found by
        # key at the provider, or not found, queued again and sent once) or unknown
        # (parked for review).
        "crash_rows_now": dict(
            Counter(rows.filter(pk__in=interrupted).values_list("status", flat=True))
        ),
        "aged_by_bench": aged,
        "still_in_flight": rows.filter(status__in=target["in_flight"]).count(),
    }


# --- Scenarios ------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    title: str
    depends_on: str
    run: Callable[[Stack, argparse.Namespace], dict]


def _probe(stack: Stack, args) -> Probe:
    browser = Browser(stack.base_url)
    browser.login(args.user, args.password)
    return Probe(browser)


def scenario_redis_stop(stack: Stack, args) -> dict:
    probe = _probe(stack, args)
    stack.redis_stop()
    try:
        probe.start(args.redis_seconds + 10)
        time.sleep(args.redis_seconds)
        samples = probe.stop()
    finally:
        stack.redis_start()
    result = summarise(samples)
    # Back to normal: a few pages once Redis is up again.
    after = Probe(probe.browser).start(5)
    time.sleep(5)
    result["after_restart"] = summarise(after.stop())
    return result


def scenario_redis_hang(stack: Stack, args) -> dict:
    probe = _probe(stack, args)
    pid = stack.redis_pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        probe.start(args.hang_seconds + 10)
        time.sleep(args.hang_seconds)
        samples = probe.stop()
    finally:
        os.kill(pid, signal.SIGCONT)
    return summarise(samples)


def scenario_worker_health(stack: Stack, args) -> dict:
    browser = Browser(stack.base_url)

    def worker_status() -> str:
        status, body, _ = browser.get("/health/?format=json")
        try:
            return json.loads(body)["components"]["worker"]["status"]
        except (ValueError, KeyError):
            return f"http {status}"

    _wait(lambda: worker_status() == "ok", 60, "/health/ to show the worker ok")
    stack.hold("celery-worker", True)
    try:
        pid = stack.child("celery-worker")
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        _wait(lambda: worker_status() == "fail", 60, "/health/ to show the worker down")
        noticed = time.monotonic() - killed
    finally:
        stack.hold("celery-worker", False)
    back = stack.wait_child_restarted("celery-worker", pid, 90)
    _wait(lambda: worker_status() == "ok", 90, "/health/ to show the worker ok again")
    return {
        "health_reports_dead_worker_after_s": round(noticed, 1),
        "worker_restarted_after_s": round(back, 1),
        "health_ok_again_after_s": round(time.monotonic() - killed - noticed, 1),
    }


def scenario_campaign(stack: Stack, args) -> dict:
    django_setup(stack)
    from django.utils import timezone

    from crm_site.models import User
    from marketing.models import Campaign, CampaignMember
    from marketing.services import campaign_create, campaign_move, invitations_queue
    from sales.models import Project

    target = TARGETS["campaign"]
    rows_model = _model(target["row_model"])
    marketer = User.objects.get(username="marketer")
    customers = _bench_customers(args.messages, "campaign")
    phones = {c.pk: c.mobile for c in customers}
    today = timezone.localdate()
    campaign = campaign_create(
        actor=marketer,
        name=f"{TAG} {datetime.now():%H:%M:%S}",
        kind=Campaign.Kind.EVENT,
        project=Project.objects.order_by("pk").first(),
        segment=None,
        starts_on=today,
        ends_on=today + timedelta(days=1),
        invite_email=False,
        invite_sms=True,
        email_subject="",
        message=TAG,
    )
    campaign = campaign_move(actor=marketer, campaign=campaign, status="running")
    CampaignMember.objects.bulk_create(
        [CampaignMember(campaign=campaign, customer=c) for c in customers],
        batch_size=500,
    )
    rows = rows_model.objects.filter(campaign=campaign)
    started = time.monotonic()
    invitations_queue(actor=marketer, campaign=campaign)  # publishes the sender
    result, interrupted = _kill_worker_when(
        stack,
        _kill_moment(target, rows, args.messages // 3, args),
        args.send_timeout,
        args.kill,
        target,
        rows,
        args.sms_file,
    )

    def poke():
        _publish(target["sweep_task"])

    result.update(_recover(target, rows, interrupted, poke, args))
    result.update(_message_report(target, rows, phones, args.sms_file))
    result["total_s"] = round(time.monotonic() - started, 1)
    return result


def scenario_survey(stack: Stack, args) -> dict:
    django_setup(stack)
    from django.utils import timezone

    from crm_site.models import User
    from service import services as service_services
    from service.models import SurveyTemplate

    target = TARGETS["survey"]
    rows_model = _model(target["row_model"])
    agent = User.objects.get(username="service_agent")
    template = SurveyTemplate.objects.filter(is_active=True).order_by("pk").first()
    customers = _bench_customers(args.surveys, "survey")
    phones = {c.pk: c.mobile for c in customers}
    invitations = []
    for customer in customers:
        request = service_services.request_create(
            actor=agent,
            customer=customer,
            kind="repair",
            category="other",
            severity="low",
            channel="phone",
            description=TAG,
        )
        invitations.append(
            rows_model(
                template=template,
                customer=customer,
                request=request,
                due_at=timezone.now(),
            )
        )
    rows_model.objects.bulk_create(invitations, batch_size=500)
    rows = rows_model.objects.filter(customer__in=customers)
    started = time.monotonic()

    def poke():
        _publish(target["sweep_task"])

    poke()  # the beat job: one send task per due row
    result, interrupted = _kill_worker_when(
        stack,
        _kill_moment(target, rows, args.surveys // 3, args),
        args.send_timeout,
        args.kill,
        target,
        rows,
        args.sms_file,
    )
    result.update(_recover(target, rows, interrupted, poke, args))
    result.update(_message_report(target, rows, phones, args.sms_file))
    result["total_s"] = round(time.monotonic() - started, 1)
    return result


def scenario_digest(stack: Stack, args) -> dict:
    """Beat is stopped (held) before the digest hour and started again a minute after
    it, with beat's schedule file removed: the crontab entry at the hour is then simply
    missed, and only the catch-up (crm_site.jobs, JobRun.last_period) can produce the
    day's digest. Then the job and the catch-up are run again, as a beat that did keep
    its file would: they must add nothing."""
    django_setup(stack)
    from django.conf import settings
    from django.utils import timezone

    target = TARGETS["digest"]
    rows_model = _model(target["row_model"])
    job_model = _model(target["job_model"])
    notifications = _model(target["notification_model"])
    hour = getattr(settings, target["hour_setting"])
    now = timezone.localtime()
    due = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if due <= now:
        due += timedelta(days=1)
    wait = (due - now).total_seconds()
    if wait > args.digest_wait:
        return {
            "skipped": f"the digest runs at {due:%H:%M} local, {wait / 60:.0f} min away; "
            f"start the stack with {target['hour_setting']}={(now + timedelta(hours=1)).hour}"
            " and run this scenario in the minutes before that hour"
        }
    day = due.date()
    job = job_model.objects.filter(name=target["job"]).first()
    if job and job.last_period == day.isoformat():
        return {"skipped": f"the digest of {day} already ran ({job.last_result})"}
    rows = rows_model.objects.filter(**{target["day_field"]: day})
    before = rows.count()
    stack.hold("celery-beat", True)
    try:
        pid = stack.child("celery-beat")
        os.kill(pid, signal.SIGTERM)
        _wait(lambda: not _alive(pid), 30, "beat to stop")
        down_at = time.monotonic()
        time.sleep(wait + 60)  # bounded by --digest-wait
        built_while_down = rows.count() - before
        # Beat's record of its last runs goes: the catch-up must not depend on it.
        removed = [p.name for p in VAR.glob(target["beat_schedule_glob"])]
        for name in removed:
            (VAR / name).unlink(missing_ok=True)
    finally:
        stack.hold("celery-beat", False)
    back = stack.wait_child_restarted("celery-beat", pid, 90)
    restarted = time.monotonic()
    notified_since = timezone.now()
    deadline = restarted + args.digest_settle
    delivered_after = None
    while time.monotonic() < deadline:
        if (
            rows.filter(status__in=target["sent"]).exists()
            and not rows.filter(status__in=target["in_flight"]).exists()
        ):
            delivered_after = time.monotonic() - restarted
            break
        time.sleep(2)
    states = _row_states(target, rows)
    job = job_model.objects.filter(name=target["job"]).first()
    users = list(rows.values_list("user_id", flat=True))
    notes = notifications.objects.filter(
        user_id__in=users, created_at__gte=notified_since, url__endswith="/today/"
    )
    first_notes = notes.count()
    # Run again, as a beat that kept its schedule file (the crontab) and the next
    # catch-up would: the day's JobRun row makes both do nothing.
    _publish(target["job_task"])
    _publish(target["catch_up_task"])
    time.sleep(args.digest_repeat_wait)
    per_user = Counter(rows.values_list("user_id", flat=True))
    return {
        "digest_time": f"{due:%Y-%m-%d %H:%M} local",
        "rows_before": before,
        "beat_down_s": round(restarted - down_at, 1),
        "beat_schedule_files_removed": removed,
        "beat_back_after_s": round(back, 1),
        "rows_built_while_beat_down": built_while_down,
        "rows_after_restart": sum(per_user.values()),
        "row_states": states,
        "delivered_after_restart_s": None
        if delivered_after is None
        else round(delivered_after, 1),
        "job_last_period": job.last_period if job else None,
        "job_last_result": job.last_result if job else None,
        "job_ran_at": f"{timezone.localtime(job.last_started):%H:%M:%S}"
        if job and job.last_started
        else None,
        "digest_notifications": first_notes,
        "after_job_and_catch_up_run_again": {
            "rows": sum(per_user.values()),
            "users_with_two_rows": sum(1 for n in per_user.values() if n > 1),
            "digest_notifications": notes.count(),
            "job_last_started_unchanged": (
                job_model.objects.get(name=target["job"]).last_started
                == (job.last_started if job else None)
            ),
        },
    }


def scenario_pg_restart(stack: Stack, args) -> dict:
    probe = _probe(stack, args)
    samples = probe.start(args.pg_seconds + 90).samples
    time.sleep(3)
    stack.pg_stop()
    stopped = time.monotonic()
    try:
        time.sleep(args.pg_seconds)
    finally:
        stack.pg_start()
    started = time.monotonic()
    deadline = started + 60
    recovered = None
    while time.monotonic() < deadline and recovered is None:
        for s in list(samples):
            if s.at > started and 200 <= s.status < 400:
                recovered = s.at - started
                break
        time.sleep(0.2)
    time.sleep(5)
    probe.stop()
    during = [s for s in samples if stopped <= s.at <= started]
    result = {"down_s": round(started - stopped, 1)}
    result["during_outage"] = summarise(during)
    result["recovered_after_s"] = None if recovered is None else round(recovered, 2)
    after = [s for s in samples if s.at > started + (recovered or 0) + 0.5]
    result["after_recovery"] = summarise(after)
    return result


SCENARIOS = [
    Scenario(
        "redis-stop",
        "Redis stopped (pages as a logged-in consultant)",
        "var/redis (pidfile, redis.conf) as scripts/run.sh writes it; the demo "
        "consultant; PAGES",
        scenario_redis_stop,
    ),
    Scenario(
        "redis-hang",
        "Redis hanging (SIGSTOP: connections accepted, never answered)",
        "as redis-stop",
        scenario_redis_hang,
    ),
    Scenario(
        "worker-health",
        "Worker kill -9: /health/ notices, run.sh restarts it",
        "/health/?format=json components.worker; var/run/children.* and "
        "var/run/hold-<name> of scripts/run.sh",
        scenario_worker_health,
    ),
    Scenario(
        "campaign",
        "Worker kill -9 in a 1,000-message campaign send",
        "TARGETS['campaign']: marketing.Invitation, crm_site.outbox states "
        "(pending/sending/sent/unknown) and idempotency_key; services "
        "campaign_create/campaign_move/invitations_queue; the pump task "
        "(invitations_recover); stack started with "
        "SMS_BACKEND=bench.faults.FileSmsBackend (send(key=), lookup), "
        "MARKETING_SEND_PER_MINUTE >= --messages and a low OUTBOX_STALE_AFTER_SECONDS",
        scenario_campaign,
    ),
    Scenario(
        "survey",
        "Worker kill -9 in a survey batch",
        "TARGETS['survey']: service.SurveyInvitation (crm_site.outbox states), "
        "service.services.request_create, the beat job survey_invitations_send "
        "(recover_stale, then one task per due row); SMS_BACKEND and "
        "OUTBOX_STALE_AFTER_SECONDS as for campaign",
        scenario_survey,
    ),
    Scenario(
        "digest",
        "Beat down over the digest hour (schedule file removed)",
        "TARGETS['digest']: sales.FollowUpDigest rows per day and status, "
        "crm_site.JobRun(follow_up_digest).last_period, the tasks "
        "sales.tasks.follow_up_digest and crm_site.tasks.jobs_catch_up (beat entry "
        "jobs-catch-up, every 5 min), var/celerybeat-schedule*, the digest's "
        "notification; FOLLOW_UP_DIGEST_HOUR (the stack and the bench must agree) "
        "within --digest-wait",
        scenario_digest,
    ),
    Scenario(
        "pg-restart",
        "PostgreSQL stopped and started under the running site",
        "var/postgres/data (postmaster.pid, postmaster.opts), pg_ctl; PAGES",
        scenario_pg_restart,
    ),
]


# --- Output ---------------------------------------------------------------------------


def table(results: dict[str, dict]) -> str:
    lines = [f"{'scenario':<14} {'figure':<34} value", "-" * 72]
    for name, result in results.items():
        for key, value in _flatten(result):
            lines.append(f"{name:<14} {key:<34} {value}")
            name = ""
    return "\n".join(lines)


def _flatten(result: dict, prefix: str = ""):
    for key, value in result.items():
        if isinstance(value, dict) and key not in ("statuses", "row_states"):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--user", default="consultant")
    parser.add_argument("--password", default=DEMO_PASSWORD)
    parser.add_argument("--redis-seconds", type=float, default=60)
    parser.add_argument("--hang-seconds", type=float, default=30)
    parser.add_argument("--pg-seconds", type=float, default=10)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--surveys", type=int, default=300)
    parser.add_argument("--send-timeout", type=float, default=300)
    parser.add_argument(
        "--kill",
        choices=["main", "group"],
        default="group",
        help="kill -9 the worker's main process or its whole process group",
    )
    parser.add_argument(
        "--kill-at",
        choices=["claimed", "handed"],
        default="claimed",
        help="kill as soon as a row is claimed, or only once the gateway has a "
        "claimed row's message (use with --gateway-delay)",
    )
    parser.add_argument("--digest-wait", type=float, default=900)
    # Beat's catch-up entry runs every 5 min; the first one 5 min after beat starts.
    parser.add_argument("--digest-settle", type=float, default=420)
    parser.add_argument("--digest-repeat-wait", type=float, default=20)
    parser.add_argument(
        "--no-lookup",
        action="store_true",
        help="the bench's gateway cannot say whether it has a message (lookup "
        "answers unknown) during the campaign and survey scenarios",
    )
    parser.add_argument(
        "--gateway-delay",
        type=float,
        default=0.0,
        help="seconds the bench's gateway takes to answer after it has a message "
        "(at most 5): widens the window in which a kill finds a row the provider "
        "already accepted",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT / "faults.json",
        help="where the figures are written (JSON)",
    )
    parser.add_argument(
        "--sms-file",
        type=Path,
        default=Path(os.environ.get("FAULTS_SMS_FILE", VAR / "faults-sms.log")),
    )
    args = parser.parse_args()
    args.messages = max(1, min(args.messages, 100_000))
    args.surveys = max(1, min(args.surveys, 10_000))
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:<14} {s.title}\n{'':<14} depends on: {s.depends_on}")
        return
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only.split(",")]
    stack = Stack.discover(args.base_url)
    no_lookup = Path(str(args.sms_file) + NO_LOOKUP_SUFFIX)
    if args.no_lookup:
        no_lookup.touch()
    else:
        no_lookup.unlink(missing_ok=True)
    delay = Path(str(args.sms_file) + DELAY_SUFFIX)
    if args.gateway_delay > 0:
        delay.write_text(str(min(args.gateway_delay, 5.0)))
    else:
        delay.unlink(missing_ok=True)
    results: dict[str, dict] = {}
    try:
        for scenario in chosen:
            print(f"--> {scenario.title}", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                results[scenario.name] = scenario.run(stack, args)
            except Exception as exc:  # noqa: BLE001 - report, go on to the next one
                results[scenario.name] = {"error": f"{type(exc).__name__}: {exc}"}
            took = round(time.monotonic() - started, 1)
            results[scenario.name]["scenario_s"] = took
            print(json.dumps(results[scenario.name], default=str), file=sys.stderr)
    finally:
        no_lookup.unlink(missing_ok=True)
        delay.unlink(missing_ok=True)
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
