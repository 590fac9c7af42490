#!/usr/bin/env python
"""Pages per second at saturation: the page server with 2 workers (the issue's two
cores), driven by several client processes, for the customer list, the search and the
customer page; p50 / p95 per page and the CPU each request costs.

    python bench/throughput.py                              # starts the page server
    python bench/throughput.py --duration 30 --processes 3 --threads 2
    python bench/throughput.py --base-url http://127.0.0.1:8000 --server-pid 1234

Without --base-url it starts `scripts/page_server.py --workers 2` (granian, as
scripts/run.sh does: threaded workers keeping connections alive, and the access log of
production, masked, into bench/out/throughput_server.log) on a free loopback port
against DATABASE_URL, and stops it at the end; run `manage.py collectstatic` once
before. With --base-url it loads that running server; --server-pid (its main process)
adds its workers' CPU.

CPU per request comes from /proc: the server's workers' user+system time, and the
PostgreSQL backends serving them (found by their client ports), divided by the
requests served. The load generator runs on the same machine and takes CPU from the
server: its own CPU per request is printed too. By default it is wrk (`apt-get install
wrk`; bench/wrk_pages.lua), about 0.1 ms of CPU a request, where the Python clients
(`--client python`, processes × threads of http.client) take 0.2-0.5 ms. The goal of
issue 13 is 250 pages/s on two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from load import Client, LoadError, percentile, q, require_loopback

TICKS = os.sysconf("SC_CLK_TCK")
GOAL_PAGES_PER_SECOND = 250
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_pages.lua"


@dataclass
class Page:
    name: str
    urls: list[str]
    headers: dict[str, str] = field(default_factory=dict)


def build_pages(sample: dict) -> list[Page]:
    heavy = sample["heavy_customer_id"]
    lst = "/customers/"
    pages = [
        Page("customer list", [lst]),
        Page("search: phone", [q(lst, p) for p in sample["phones"]]),
        Page("search: name", [q(lst, n) for n in sample["names"]]),
        Page("customer page (heavy)", [f"/customers/{heavy}/"]),
    ]
    # All of them interleaved, as a day's traffic would be.
    mix = [url for page in pages for url in page.urls[:20]]
    pages.append(Page("mix of the above", mix))
    return pages


# --- Clients (child processes) ------------------------------------------------------


def client_process(
    base_url: str,
    cookie: str,
    urls: list[str],
    headers: dict[str, str],
    threads: int,
    start_at: float,
    duration: float,
    offset: int,
) -> dict:
    """Threads that GET urls in a loop until start_at + duration (wall clock)."""
    parts = urllib.parse.urlsplit(base_url)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    end_at = start_at + duration

    def run(thread_no: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        index = offset * 7919 + thread_no * 104729
        mine: list[float] = []
        bad: list[str] = []
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < end_at:
            url = urls[index % len(urls)]
            index += 1
            started = time.perf_counter()
            try:
                conn.request(
                    "GET", url, headers={"Cookie": cookie, **headers}
                )  # keep-alive unless the server closes
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                bad.append(f"{type(exc).__name__} {url}")
                continue
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                bad.append(f"HTTP {status} {url}")
            else:
                mine.append(elapsed)
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    cpu_before = time.process_time()
    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {
        "latencies": latencies,
        "errors": errors,
        "cpu_seconds": time.process_time() - cpu_before,
    }


def wrk_phase(
    base_url: str,
    cookie: str,
    urls: list[str],
    headers: dict[str, str],
    connections: int,
    seconds: float,
) -> dict:
    """wrk (C, one thread, `connections` kept-alive connections) GETs urls in turn for
    `seconds` (whole seconds, at least one) through bench/wrk_pages.lua; its CPU comes
    from the rusage of the finished child."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError("wrk is not installed: apt-get install wrk, or --client python")
    with tempfile.NamedTemporaryFile("w", suffix=".paths") as paths:
        paths.write("\n".join(urls) + "\n")
        paths.flush()
        header_args = [f"{k}: {v}" for k, v in {"Cookie": cookie, **headers}.items()]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [wrk, "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
             "--timeout", "30s", "-s", str(WRK_SCRIPT), base_url, "--", paths.name,
             *header_args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise LoadError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    figures = json.loads(lines[-1])
    errors = [f"socket error {base_url}"] * figures["socket_errors"]
    errors += [f"HTTP {figures['first_status']} (first of them)"] * figures["not_ok"]
    return {
        "requests": figures["requests"] - figures["not_ok"],
        "seconds": figures["duration_us"] / 1e6,
        "p50_ms": figures["p50_us"] / 1000,
        "p95_ms": figures["p95_us"] / 1000,
        "errors": errors,
        "cpu_seconds": (after.ru_utime + after.ru_stime)
        - (before.ru_utime + before.ru_stime),
    }


# --- CPU of the server side ---------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def local_ports(pid: int) -> set[int]:
    """Local TCP ports of a process's sockets (its PostgreSQL connections among them)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def postgres_backends(cursor, worker_pids: list[int]) -> list[int]:
    """The PostgreSQL backends whose client is one of the workers, and their parallel
    query workers."""
    ports = set()
    for pid in worker_pids:
        ports |= local_ports(pid)
    if not ports:
        return []
    cursor.execute(
        "SELECT pid FROM pg_stat_activity WHERE client_port = ANY(%(ports)s)"
        " AND client_addr IN ('127.0.0.1', '::1') UNION"
        " SELECT w.pid FROM pg_stat_activity w JOIN pg_stat_activity l"
        " ON w.leader_pid = l.pid AND w.pid <> l.pid"
        " WHERE l.client_port = ANY(%(ports)s)",
        {"ports": sorted(ports)},
    )
    return [row[0] for row in cursor.fetchall()]


class ServerCpu:
    """CPU seconds of the page server's workers and of the PostgreSQL backends serving them,
    polled every `interval` seconds while a phase runs: Django reconnects every
    CONN_MAX_AGE seconds, so backends come and go (a new one counts from zero; what a
    closing one did after its last poll is lost). Parallel query workers live shorter
    than a poll and are mostly missed. Needs psycopg2 for the PostgreSQL part."""

    def __init__(self, master: int | None, interval: float = 0.25) -> None:
        self.master = master
        self.interval = interval
        self.workers: list[int] = children(master) if master else []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first: dict[tuple[str, int], float] = {}
        self._last: dict[tuple[str, int], float] = {}
        self._cursor = None
        if master and os.environ.get("DATABASE_URL"):
            try:
                import psycopg2

                conn = psycopg2.connect(os.environ["DATABASE_URL"])
                conn.autocommit = True
                self._cursor = conn.cursor()
            except Exception:  # noqa: BLE001 - CPU of PostgreSQL is optional
                self._cursor = None

    def _poll(self, first: bool) -> None:
        self.workers = children(self.master)
        pids = [("workers", p) for p in self.workers]
        if self._cursor is not None:
            backends = postgres_backends(self._cursor, self.workers)
            pids += [("postgres", p) for p in backends]
        for key in pids:
            used = cpu_seconds(key[1])
            if key not in self._first:
                self._first[key] = used if first else 0.0
            self._last[key] = max(used, self._last.get(key, 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll(first=False)

    def start(self) -> None:
        if not self.master:
            return
        self._first, self._last = {}, {}
        self._poll(first=True)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        if not self.master or self._thread is None:
            return {}
        self._stop.set()
        self._thread.join()
        self._poll(first=False)
        used = {"workers": 0.0, "postgres": 0.0}
        for key, last in self._last.items():
            used[key[0]] += last - self._first[key]
        return used


# --- The page server ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workers: int) -> tuple[subprocess.Popen, str]:
    project = Path(os.environ.get("BENCH_PROJECT_ROOT") or common.ROOT)
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm_site.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE_HTTPS": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    env.setdefault("DJANGO_SECRET_KEY", "bench-only-not-secret")
    env.setdefault("ID_NUMBER_HASH_KEY", "bench-only-not-secret-id-key")
    command = common.page_server_command(f"127.0.0.1:{port}", workers)
    log = open(common.OUT / "throughput_server.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        command,
        env=env,
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(
                f"the page server exited ({process.returncode}); see {log.name}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        process.terminate()
        raise SystemExit("the page server did not accept connections within 60 s")
    return process, f"http://127.0.0.1:{port}"


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # the group this script started
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- Running ----------------------------------------------------------------------


def login_cookie(base_url: str, user: str, password: str) -> str:
    client = Client(base_url, 30.0)
    client.login(user, password)
    return "; ".join(f"{c.name}={c.value}" for c in client.jar)


def run_page(args, base_url: str, cookies: list[str], page: Page, cpu: ServerCpu):
    # Warm-up: the clients fetch the page's URLs for --warmup seconds, unmeasured.
    def phase(seconds: float) -> dict:
        if args.client == "wrk":
            connections = args.processes * args.threads
            return wrk_phase(
                base_url, cookies[0], page.urls, page.headers, connections, seconds
            )
        start_at = time.time() + 0.3
        with multiprocessing.get_context("fork").Pool(args.processes) as pool:
            results = pool.starmap(
                client_process,
                [
                    (base_url, cookies[i], page.urls, page.headers, args.threads,
                     start_at, seconds, i)
                    for i in range(args.processes)
                ],
            )  # fmt: skip
        latencies = [ms for r in results for ms in r["latencies"]]
        return {
            "requests": len(latencies),
            "seconds": seconds,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "errors": [e for r in results for e in r["errors"]],
            "cpu_seconds": sum(r["cpu_seconds"] for r in results),
        }

    phase(args.warmup)
    load_before = os.getloadavg()[0]
    cpu.start()
    result = phase(args.duration)
    used = cpu.stop()
    done, errors = result["requests"], result["errors"]
    row = {
        "page": page.name,
        "client": args.client,
        "requests": done,
        "errors": len(errors),
        "error_samples": errors[:3],
        "pages_per_second": done / result["seconds"],
        "p50_ms": result["p50_ms"],
        "p95_ms": result["p95_ms"],
        "client_cpu_ms": result["cpu_seconds"] * 1000 / max(done, 1),
        "load_average": round(max(load_before, os.getloadavg()[0]), 2),
    }
    for key, value in used.items():
        row[f"{key}_cpu_ms"] = value * 1000 / max(done, 1)
    if used:
        row["two_core_ceiling"] = ceiling(row)
    return row


def ceiling(row: dict) -> float:
    """Pages per second two idle cores could serve at this CPU cost per page."""
    cost = row.get("workers_cpu_ms", 0.0) + row.get("postgres_cpu_ms", 0.0)
    return 2000 / cost if cost else float("nan")


def print_rows(rows: list[dict]) -> None:
    header = (
        f"{'page':<24} {'reqs':>6} {'errs':>5} {'pages/s':>8} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'CPU ms/req: server':>21} {'postgres':>9} {'client':>7}"
        f" {'2-core ceiling':>15}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        workers = r.get("workers_cpu_ms")
        pg = r.get("postgres_cpu_ms")
        print(
            f"{r['page']:<24} {r['requests']:>6} {r['errors']:>5} "
            f"{r['pages_per_second']:>8.1f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
            f"{'—' if workers is None else format(workers, '.1f'):>21} "
            f"{'—' if pg is None else format(pg, '.1f'):>9} {r['client_cpu_ms']:>7.1f}"
            f" {'—' if not workers else format(ceiling(r), '.0f') + ' pages/s':>15}"
        )
    for r in rows:
        for sample in r["error_samples"]:
            print(f"  error on {r['page']}: {sample}")
    print(
        f"Goal: ≥ {GOAL_PAGES_PER_SECOND} pages/s on two cores; at saturation the "
        "server cost per page is server + postgres CPU ms; the ceiling is "
        "2000 / that: what two otherwise idle cores could serve."
    )


def client_line(args) -> str:
    connections = args.processes * args.threads
    if args.client == "wrk":
        return f"wrk, 1 thread, {connections} connections"
    return f"{args.processes} processes × {args.threads} threads"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running server (default: start one)")
    parser.add_argument("--server-pid", type=int, help="its main process's pid")
    parser.add_argument("--workers", type=int, default=2, help="page server workers")
    parser.add_argument("--processes", type=int, default=3, help="client processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per process")
    parser.add_argument(
        "--client",
        choices=("wrk", "python"),
        default="wrk" if shutil.which("wrk") else "python",
        help="the load generator: wrk (default when installed; --processes × --threads "
        "connections on one thread) or Python processes with threads",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="s per page")
    parser.add_argument("--warmup", type=float, default=3.0, help="s per page")
    parser.add_argument("--user", default="sales_manager")
    parser.add_argument("--password", default="demo-pass-2026")
    parser.add_argument("--sample", type=Path, default=common.SAMPLE_FILE)
    parser.add_argument(
        "--pages", help="comma-separated words; only pages whose name has one"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const=common.OUT / "throughput.json",
        type=Path,
        help="also write the results as JSON (default bench/out/throughput.json)",
    )
    args = parser.parse_args()
    if not 1 <= args.processes * args.threads <= 64:
        parser.error("--processes × --threads must be between 1 and 64")
    if not 0 < args.duration <= 600:
        parser.error("--duration must be between 0 and 600 seconds")
    if not args.sample.exists():
        parser.error(f"{args.sample} not found: run bench/generate.py first")
    sample = json.loads(args.sample.read_text())
    pages = build_pages(sample)
    if args.pages:
        words = [w.strip() for w in args.pages.split(",") if w.strip()]
        pages = [p for p in pages if any(w in p.name for w in words)]
    common.OUT.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        if args.base_url:
            require_loopback(args.base_url)
            base_url, master = args.base_url.rstrip("/"), args.server_pid
        else:
            server, base_url = start_server(args.workers)
            master = server.pid
        cpu = ServerCpu(master)
        cookies = [
            login_cookie(base_url, args.user, args.password)
            for _ in range(args.processes)
        ]
        database = urllib.parse.urlsplit(os.environ.get("DATABASE_URL", "")).path
        print(
            f"{base_url} ({'started here' if server else 'running'}, "
            f"{len(children(master)) if master else '?'} workers, database {database[1:]}); "
            f"{client_line(args)} as {args.user}; "
            f"{args.duration:g} s per page after {args.warmup:g} s; {os.cpu_count()} "
            f"CPUs, load average {os.getloadavg()[0]:.2f}\n"
        )
        rows = []
        for page in pages:
            rows.append(run_page(args, base_url, cookies, page, cpu))
            print(
                f"  {page.name}: {rows[-1]['pages_per_second']:.1f} pages/s",
                file=sys.stderr,
            )
        print()
        print_rows(rows)
    except LoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            stop_server(server)
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
        print(f"\nWritten to {args.json}")
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
