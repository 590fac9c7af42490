#!/usr/bin/env python
"""Webhook deliveries under a worker crash (issue 15): 1,000 events to a local
receiver, a real Celery worker killed (kill -9, its whole process group) mid-batch
and another started; deliveries a minute, distinct events received, duplicates, lost.

Run from the checkout with the usual environment (DATABASE_URL of a migrated
database, REDIS_URL the broker) — nothing else needs to run:

    WEBHOOK_ALLOW_PRIVATE_TARGETS=true WEBHOOK_STALE_AFTER_SECONDS=10 \\
    .venv/bin/python bench/webhooks_bench.py [--events 1000] [--kill-after 300]

The receiver is an http.server thread on 127.0.0.1 counting webhook-ids and checking
each signature. The bench plays celery beat's part for the webhook sweeper
(crm_site.tasks.webhooks_send_pending, every 60 s in production) every 5 s, so the
deliveries the dead worker left "sending" are sent again (same webhook-id) once they
are WEBHOOK_STALE_AFTER_SECONDS old. Data it creates: the user "webhooks-bench", the
key "webhooks-bench" and its subscription; earlier bench deliveries are removed first.

A duplicate is a delivery the receiver got twice with the same webhook-id: the POST
that was in flight when the worker died (the receiver had it, the row was not yet
marked sent) is sent again. Receivers de-duplicate by webhook-id (README).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
os.environ.setdefault("WEBHOOK_STALE_AFTER_SECONDS", "10")
# A bounded run: it never waits longer than this for the deliveries.
MAX_SECONDS = 600
SWEEP_EVERY = 5.0


class Receiver:
    def __init__(self, secret: str = ""):
        self.secret = secret
        self.ids: Counter[str] = Counter()
        self.bad_signatures = 0
        self.first_at: float | None = None
        self.last_new_at: float | None = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.record(self.headers, body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, headers, body: bytes) -> None:
        msg_id = headers["webhook-id"]
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = f"{msg_id}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        ok = headers["webhook-signature"] == "v1," + expected.decode()
        now = time.monotonic()
        with self.lock:
            self.bad_signatures += not ok
            if msg_id not in self.ids:
                self.last_new_at = now
            self.ids[msg_id] += 1
            self.first_at = self.first_at or now

    @property
    def distinct(self) -> int:
        with self.lock:
            return len(self.ids)


def start_worker(name: str, concurrency: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "crm_site",
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "-n",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        start_new_session=True,  # its own process group: kill -9 takes all of it
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--kill-after", type=int, default=300)
    # scripts/run.sh starts the worker with 2 processes.
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import transaction

    from crm_site import tasks
    from crm_site.api.models import ApiKey
    from crm_site.models import User
    from crm_site.webhooks import services
    from crm_site.webhooks.models import WebhookDelivery, WebhookSubscription

    receiver = Receiver()
    user, _ = User.objects.get_or_create(
        username="webhooks-bench", defaults={"is_superuser": True}
    )
    key = ApiKey.objects.filter(name="webhooks-bench").first()
    if key is None:
        key = ApiKey(name="webhooks-bench", acts_as=user, scopes=["webhooks"])
        key.set_new_secret()
        key.save()
    WebhookSubscription.objects.filter(api_key=key).delete()
    subscription, receiver.secret = services.subscription_create(
        actor=user, api_key=key, url=receiver.url, events=["customer.created"]
    )
    # Nobody consumes yet: the broker holds the tasks until the first worker starts.
    started = time.monotonic()
    with transaction.atomic():
        for n in range(args.events):
            services.event_emit("customer.created", data={"customer_id": n + 1})
    queued_s = time.monotonic() - started
    print(f"queued {args.events} events (one transaction) in {queued_s:.1f} s")

    worker = start_worker("bench-a", args.concurrency)
    deadline = time.monotonic() + MAX_SECONDS
    while receiver.distinct < args.kill_after and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    killed_at = receiver.distinct
    before_kill = time.monotonic() - (receiver.first_at or time.monotonic())
    sending = WebhookDelivery.objects.filter(
        subscription=subscription, status="sending"
    ).count()
    print(
        f"killed the worker (-9) after {killed_at} distinct deliveries; "
        f"{sending} rows left 'sending'"
    )

    worker = start_worker("bench-b", args.concurrency)
    last_sweep = 0.0
    try:
        while time.monotonic() < deadline:
            done = WebhookDelivery.objects.filter(
                subscription=subscription, status="sent"
            ).count()
            if done >= args.events:
                break
            if time.monotonic() - last_sweep > SWEEP_EVERY:
                tasks.webhooks_send_pending.delay()
                last_sweep = time.monotonic()
            time.sleep(0.2)
        time.sleep(1.0)  # a straggling duplicate arrives now or never
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)

    rows = WebhookDelivery.objects.filter(subscription=subscription)
    sent = rows.filter(status="sent").count()
    events = set(map(str, rows.values_list("event_id", flat=True)))
    received = set(receiver.ids)
    duplicates = sum(count - 1 for count in receiver.ids.values())
    span = (receiver.last_new_at or 0) - (receiver.first_at or 0)
    rate = receiver.distinct / span * 60 if span > 0 else 0.0
    print(f"rows sent: {sent} / {args.events}")
    print(f"distinct events received: {len(received & events)}")
    print(f"duplicates received (same webhook-id twice): {duplicates}")
    print(f"lost: {len(events - received)}")
    print(f"bad signatures: {receiver.bad_signatures}")
    if before_kill > 0:
        print(
            f"deliveries/minute before the kill ({args.concurrency} processes): "
            f"{killed_at / before_kill * 60:,.0f}"
        )
    print(
        f"deliveries/minute (first to last receipt, crash and recovery included): "
        f"{rate:,.0f} ({span:.1f} s)"
    )
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    receiver.server.shutdown()


if __name__ == "__main__":
    main()
