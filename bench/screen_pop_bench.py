"""Screen pop latency: from the telephony system's POST to the event on the stream.

Starts the page server (scripts/page_server.py) with several workers and the
event-stream server next to it (crm_site.live_server, as scripts/run.sh does; with
--streams-with-pages the streams stay on the page server), opens one
server-sent events stream per agent (each reconnecting with Last-Event-ID when the
server ends it, as EventSource does), posts ringing calls through the API with a
telephony key, and prints p50/p95/max of POST start → event received, and how many
events were lost or doubled. The streams land on whichever worker accepted them, so
most events cross workers through Redis pub/sub.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python bench/screen_pop_bench.py \
        [--agents 20] [--calls 200] [--workers 2] [--threads 32] [--port 8765]

Needs a migrated database (manage.py migrate); creates bench users bench_pop_*.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from importlib import import_module
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    ROOT,
    django_setup,
    live_server_command,
    page_server_command,
    quit_servers,
)


def _prepare(agents: int) -> tuple[list[tuple[int, str, str]], str]:
    """Agents (user id, extension, session cookie) and the telephony key's secret."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group

    from crm_site.api.models import ApiKey
    from crm_site.models import User
    from crm_site.roles import Role
    from customers.models import AgentExtension

    engine = import_module(settings.SESSION_ENGINE)
    desk = Group.objects.get(name=Role.SERVICE_AGENT.value)
    result = []
    for n in range(agents):
        user, _created = User.objects.get_or_create(
            username=f"bench_pop_{n}",
            defaults={"last_name": "坐席", "first_name": str(n)},
        )
        user.groups.add(desk)
        extension = f"97{n:03d}"
        AgentExtension.objects.update_or_create(
            user=user, defaults={"extension": extension}
        )
        session = engine.SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        result.append((user.pk, extension, session.session_key))
    switch, _created = User.objects.get_or_create(username="bench_pop_switch")
    switch.groups.add(desk)
    key = ApiKey(
        name=f"bench-pop-{time.time_ns()}", acts_as=switch, scopes=["telephony"]
    )
    raw = key.set_new_secret()
    key.save()
    return result, raw


class Listener(threading.Thread):
    """One agent's browser: an event stream, reopened with the last id it saw."""

    def __init__(self, port: int, cookie: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.cookie, self.stop = port, cookie, stop
        self.received: list[tuple[float, dict]] = []
        self.reconnects = 0
        self.connected_at: list[float] = []
        self.ready = threading.Event()

    def run(self) -> None:
        from django.conf import settings

        last = ""
        while not self.stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=40)
            headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={self.cookie}"}
            if last:
                headers["Last-Event-ID"] = last
            try:
                conn.request("GET", "/customers/screen-pop/stream/", headers=headers)
                response = conn.getresponse()
                if response.status != 200:
                    raise RuntimeError(f"stream answered {response.status}")
                event_id = data = ""
                while not self.stop.is_set():
                    line = response.readline()
                    if not line:
                        break  # the server ended the stream: reconnect
                    text = line.decode().rstrip("\n")
                    if text.startswith("retry:"):
                        self.connected_at.append(time.time())
                        self.ready.set()
                    elif text.startswith("id: "):
                        event_id = text[4:]
                    elif text.startswith("data: "):
                        data = text[6:]
                    elif text == "" and data:
                        self.received.append((time.time(), json.loads(data)))
                        last, data = event_id, ""
            except (OSError, http.client.HTTPException):
                time.sleep(0.2)
            finally:
                conn.close()
            self.reconnects += 1


def _post(port: int, raw_key: str, body: dict) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        "POST",
        "/api/v1/telephony/calls/",
        body=json.dumps(body),
        headers={
            "Authorization": f"Bearer {raw_key}",
            "Content-Type": "application/json",
        },
    )
    status = conn.getresponse().status
    conn.close()
    return status


def _wait_for_port(port: int, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit("the page server exited during startup")
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the page server did not start")


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--streams-with-pages",
        action="store_true",
        help="the streams on the page server, not the event-stream server (port + 1)",
    )
    parser.add_argument(
        "--gap", type=float, default=0.05, help="seconds between two calls"
    )
    args = parser.parse_args()
    django_setup()
    agents, raw_key = _prepare(args.agents)

    env = {**os.environ, "DJANGO_SECURE_HTTPS": "false"}
    if args.streams_with_pages:
        # Every thread may hold a stream (by default half are kept for pages).
        env["LIVE_THREADED_STREAMS"] = str(args.threads)
    proc = subprocess.Popen(
        page_server_command(
            f"127.0.0.1:{args.port}",
            args.workers,
            threads=args.threads,
            extra=("--log-level", "warning"),
        ),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    # The streams on the event-stream server, as scripts/run.sh's pages open them
    # (crm_site.live_server, LIVE_EVENTS_URL); --streams-with-pages: on the page server.
    stream_port = args.port
    live_proc = None
    if not args.streams_with_pages:
        stream_port = args.port + 1
        live_proc = subprocess.Popen(
            live_server_command(f"127.0.0.1:{stream_port}"),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    stop = threading.Event()
    try:
        _wait_for_port(args.port, proc)
        if live_proc is not None:
            _wait_for_port(stream_port, live_proc)
        listeners = [
            Listener(stream_port, cookie, stop) for _pk, _ext, cookie in agents
        ]
        for listener in listeners:
            listener.start()
        for listener in listeners:
            if not listener.ready.wait(15):
                raise SystemExit("a stream did not open")
        started = time.time()
        posted: dict[str, tuple[int, float]] = {}
        post_ms: list[float] = []
        rng = random.Random(15)
        run = time.time_ns()
        for n in range(args.calls):
            index = rng.randrange(len(agents))
            call_id = f"bench-{run}-{n}"
            at = time.time()
            status = _post(
                args.port,
                raw_key,
                {
                    "event": "ringing",
                    "call_id": call_id,
                    "caller": f"+86139{rng.randrange(10**8):08d}",
                    "extension": agents[index][1],
                },
            )
            if status != 201:
                raise SystemExit(f"POST answered {status}")
            post_ms.append((time.time() - at) * 1000)
            posted[call_id] = (index, at)
            time.sleep(args.gap)
        time.sleep(2.0)
        stop.set()
        elapsed = time.time() - started

        from customers.models import Call

        pk_of = dict(
            Call.objects.filter(call_id__in=list(posted)).values_list("call_id", "pk")
        )
        latencies, lost, doubled = [], 0, 0
        live, replayed = [], []
        for call_id, (index, at) in posted.items():
            arrivals = [
                when
                for when, data in listeners[index].received
                if data.get("call") == pk_of[call_id]
            ]
            if not arrivals:
                lost += 1
                continue
            doubled += len(arrivals) - 1
            latencies.append((arrivals[0] - at) * 1000)
            # Rang while the agent's stream was reconnecting: replayed from Redis.
            across = any(at <= c <= arrivals[0] for c in listeners[index].connected_at)
            (replayed if across else live).append(latencies[-1])
        print(
            f"screen pop: {args.agents} agents (streams), {args.workers} page server "
            f"workers × {args.threads} threads, {args.calls} ringing calls in "
            f"{elapsed:.1f} s"
        )
        print(
            f"POST → event on the stream: p50 {statistics.median(latencies):.1f} ms, "
            f"p95 {_percentile(latencies, 95):.1f} ms, max {max(latencies):.1f} ms"
        )
        if live:
            print(
                f"  on an open stream ({len(live)}): p50 {statistics.median(live):.1f}"
                f" ms, p95 {_percentile(live, 95):.1f} ms, max {max(live):.1f} ms"
            )
        if replayed:
            print(
                f"  replayed after a reconnect ({len(replayed)}): max "
                f"{max(replayed):.1f} ms"
            )
        print(
            f"the POST itself: p50 {statistics.median(post_ms):.1f} ms, "
            f"p95 {_percentile(post_ms, 95):.1f} ms, max {max(post_ms):.1f} ms"
        )
        print(
            f"lost {lost}, doubled {doubled}, stream reconnects "
            f"{sum(listener.reconnects for listener in listeners)}"
        )
    finally:
        stop.set()
        quit_servers(proc, live_proc)


if __name__ == "__main__":
    main()
