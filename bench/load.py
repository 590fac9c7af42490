#!/usr/bin/env python
"""Drive a running Anju CRM server with concurrent logged-in clients and print
p50/p95 per page against the targets.

    python bench/load.py                                  # http://127.0.0.1:8000
    python bench/load.py --base-url http://127.0.0.1:8123 --clients 4 --requests 200
    python bench/load.py --duration 30 --json             # 30 s per page instead

Search values and the heavy customer come from bench/out/sample.json, written by
bench/generate.py. Only the standard library is used; only servers on this machine
(loopback addresses, localhost) are accepted.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

MAX_REQUESTS = 100_000
MAX_DURATION = 600.0
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')


@dataclass
class PageSpec:
    name: str
    target_ms: float
    urls: list[str]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class PageResult:
    spec: PageSpec
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


class LoadError(Exception):
    pass


def require_loopback(base_url: str) -> None:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoadError(f"not an http(s) URL: {base_url}")
    host = parts.hostname
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        if host != "localhost" and not host.endswith(".localhost"):
            raise LoadError(
                f"refusing {host}: only loopback addresses and localhost are allowed"
            ) from None
        infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
        addresses = {ipaddress.ip_address(info[4][0]) for info in infos}
    if not addresses or not all(address.is_loopback for address in addresses):
        raise LoadError(
            f"refusing {host}: only loopback addresses and localhost are allowed"
        )


class Client:
    """One logged-in browser-like session (its own cookies)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),  # never go through an HTTP proxy
            urllib.request.HTTPCookieProcessor(self.jar),
        )

    def _cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def login(self, username: str, password: str) -> None:
        login_url = f"{self.base_url}/accounts/login/"
        with self.opener.open(login_url, timeout=self.timeout) as response:
            html = response.read().decode("utf-8", "replace")
        match = CSRF_INPUT.search(html)
        token = match.group(1) if match else self._cookie("csrftoken")
        if not token:
            raise LoadError("no CSRF token on the login page")
        data = urllib.parse.urlencode(
            {
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": token,
                "next": "/",
            }
        ).encode()
        request = urllib.request.Request(
            login_url, data=data, headers={"Referer": login_url}, method="POST"
        )
        with self.opener.open(request, timeout=self.timeout) as response:
            response.read()
            final = response.geturl()
        if "/accounts/login/" in final or not self._cookie("sessionid"):
            raise LoadError(f"login as {username} failed (wrong password or user?)")

    def get(self, path: str, headers: dict[str, str]) -> tuple[float, str | None]:
        """(milliseconds, error or None) for one GET, body read completely."""
        request = urllib.request.Request(self.base_url + path, headers=headers)
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                response.read()
                status, final = response.status, response.geturl()
        except urllib.error.HTTPError as exc:
            exc.read()
            return (time.perf_counter() - started) * 1000, f"HTTP {exc.code} {path}"
        except (urllib.error.URLError, OSError) as exc:
            return (time.perf_counter() - started) * 1000, f"{exc} {path}"
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            return elapsed, f"HTTP {status} {path}"
        if "/accounts/login/" in final:
            return elapsed, f"redirected to the login page: {path}"
        return elapsed, None


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


def q(path: str, text: str) -> str:
    return f"{path}?{urllib.parse.urlencode({'q': text})}"


LIVE = {"HX-Request": "true", "HX-Target": "results"}


def build_pages(sample: dict, only: set[str] | None) -> list[PageSpec]:
    heavy = sample["heavy_customer_id"]
    phones = sample["phones"]
    # Half typed as digits, half as people write them: "138 0013 8000".
    typed = [p if i % 2 else f"{p[:3]} {p[3:7]} {p[7:]}" for i, p in enumerate(phones)]
    pages = [
        PageSpec("list (first page)", 100, ["/customers/"]),
        PageSpec("search: full phone", 50, [q("/customers/", p) for p in typed]),
        PageSpec("search: last 4 digits", 50, [q("/customers/", p[-4:]) for p in phones]),
        PageSpec("search: name (2 chars)", 50, [q("/customers/", n) for n in sample["names"]]),
        PageSpec("search: pinyin initials", 50, [q("/customers/", s) for s in sample["initials"]]),
        PageSpec("search: full pinyin", 50, [q("/customers/", s) for s in sample["pinyin"]]),
        PageSpec(f"360 page (customer {heavy})", 100, [f"/customers/{heavy}/"]),
        # The search box searches as you type: only the results fragment comes back.
        PageSpec("live search: full phone", 50, [q("/customers/", p) for p in typed], LIVE),
        PageSpec("live search: last 4 digits", 50, [q("/customers/", p[-4:]) for p in phones], LIVE),
        PageSpec("live search: name (2 chars)", 50, [q("/customers/", n) for n in sample["names"]], LIVE),
        PageSpec("live search: pinyin initials", 50, [q("/customers/", s) for s in sample["initials"]], LIVE),
        PageSpec("live search: full pinyin", 50, [q("/customers/", s) for s in sample["pinyin"]], LIVE),
        PageSpec(
            "360 timeline partial",
            100,
            [f"/customers/{heavy}/timeline/", f"/customers/{heavy}/timeline/?page=5"],
            {"HX-Request": "true"},
        ),
    ]  # fmt: skip
    pages = [p for p in pages if p.urls]
    if only:
        pages = [p for p in pages if any(word in p.name for word in only)]
    return pages


def run_page(
    clients: list[Client],
    spec: PageSpec,
    *,
    requests: int,
    duration: float | None,
    warmup: int,
) -> PageResult:
    result = PageResult(spec)
    lock = threading.Lock()
    counter = {"next": 0}

    def worker(client: Client, measure: bool, limit: int, deadline: float) -> None:
        while True:
            with lock:
                index = counter["next"]
                if index >= limit or time.monotonic() >= deadline:
                    return
                counter["next"] += 1
            url = spec.urls[index % len(spec.urls)]
            elapsed, error = client.get(url, spec.headers)
            if not measure:
                continue
            with lock:
                if error:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        result.error_samples.append(error)
                else:
                    result.latencies.append(elapsed)

    def phase(measure: bool, limit: int, seconds: float) -> None:
        counter["next"] = 0
        deadline = time.monotonic() + seconds
        threads = [
            threading.Thread(target=worker, args=(c, measure, limit, deadline))
            for c in clients
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    phase(False, warmup, MAX_DURATION)
    started = time.monotonic()
    if duration:
        phase(True, MAX_REQUESTS, duration)
    else:
        phase(True, requests, MAX_DURATION)
    result.wall_seconds = time.monotonic() - started
    return result


def print_table(results: list[PageResult]) -> None:
    header = (
        f"{'page':<34} {'reqs':>6} {'errs':>5} {'req/s':>7} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'target':>8}  result"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        p50, p95 = percentile(r.latencies, 50), percentile(r.latencies, 95)
        worst = max(r.latencies) if r.latencies else float("nan")
        done = len(r.latencies) + r.errors
        verdict = (
            "PASS"
            if r.latencies and not r.errors and p95 <= r.spec.target_ms
            else "FAIL"
        )
        rate = done / r.wall_seconds if r.wall_seconds else 0
        print(
            f"{r.spec.name:<34} {done:>6} {r.errors:>5} {rate:>7.1f} "
            f"{p50:>8.1f} {p95:>8.1f} {worst:>8.1f} {'≤' + format(r.spec.target_ms, 'g'):>8}  {verdict}"
        )  # fmt: skip
    for r in results:
        for sample in r.error_samples:
            print(f"  error on {r.spec.name}: {sample}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200, help="per page")
    parser.add_argument(
        "--duration", type=float, help="seconds per page instead of --requests"
    )
    parser.add_argument(
        "--warmup", type=int, default=10, help="unmeasured requests per page"
    )
    parser.add_argument("--user", default="sales_manager")
    parser.add_argument("--password", default="demo-pass-2026")
    parser.add_argument("--sample", type=Path, default=common.SAMPLE_FILE)
    parser.add_argument(
        "--pages", help="comma-separated words; run only pages whose name has one"
    )
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--json",
        nargs="?",
        const=common.OUT / "results.json",
        type=Path,
        help="also write the results as JSON (default bench/out/results.json)",
    )
    args = parser.parse_args()
    if not 1 <= args.clients <= 64:
        parser.error("--clients must be between 1 and 64")
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be between 1 and {MAX_REQUESTS}")
    if args.duration is not None and not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be between 0 and {MAX_DURATION:g} seconds")
    try:
        require_loopback(args.base_url)
    except LoadError as exc:
        parser.error(str(exc))
    if not args.sample.exists():
        parser.error(f"{args.sample} not found: run bench/generate.py first")
    sample = json.loads(args.sample.read_text())
    only = {w.strip() for w in args.pages.split(",")} if args.pages else None
    pages = build_pages(sample, only)

    clients = [Client(args.base_url, args.timeout) for _ in range(args.clients)]
    try:
        for client in clients:
            client.login(args.user, args.password)
    except (LoadError, urllib.error.URLError, OSError) as exc:
        print(f"Cannot log in at {args.base_url}: {exc}", file=sys.stderr)
        return 2
    amount = f"{args.duration:g} s" if args.duration else f"{args.requests} requests"
    print(
        f"{args.base_url} as {args.user}: {args.clients} clients, {amount} per page "
        f"after {args.warmup} warm-up requests; {sample.get('customers', '?'):,} "
        f"customers in {sample.get('database', '?')}\n"
    )
    results = []
    for spec in pages:
        print(f"  {spec.name} ...", end="", flush=True)
        result = run_page(
            clients,
            spec,
            requests=args.requests,
            duration=args.duration,
            warmup=args.warmup,
        )
        print(f" p95 {percentile(result.latencies, 95):.1f} ms", flush=True)
        results.append(result)
    print()
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "base_url": args.base_url,
                    "user": args.user,
                    "clients": args.clients,
                    "requests_per_page": None if args.duration else args.requests,
                    "duration_per_page": args.duration,
                    "finished_at": datetime.now(UTC).isoformat(),
                    "customers": sample.get("customers"),
                    "pages": [
                        {
                            "page": r.spec.name,
                            "example_url": r.spec.urls[0],
                            "requests": len(r.latencies) + r.errors,
                            "errors": r.errors,
                            "p50_ms": round(percentile(r.latencies, 50), 1),
                            "p95_ms": round(percentile(r.latencies, 95), 1),
                            "max_ms": round(max(r.latencies, default=0), 1),
                            "target_p95_ms": r.spec.target_ms,
                            "pass": bool(
                                r.latencies
                                and not r.errors
                                and percentile(r.latencies, 95) <= r.spec.target_ms
                            ),
                            "error_samples": r.error_samples,
                        }
                        for r in results
                    ],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
        print(f"\nResults written to {args.json}")
    failed = any(
        r.errors or not r.latencies or percentile(r.latencies, 95) > r.spec.target_ms
        for r in results
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
