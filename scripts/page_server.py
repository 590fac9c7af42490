#!/usr/bin/env python
"""The page server: granian serving crm_site.wsgi:application, as scripts/run.sh
starts it, and as the benches do (bench/throughput.py, bench/opening.py).

    python scripts/page_server.py --bind 127.0.0.1:8000 [--workers 3] [--threads 50]

Why granian rather than gunicorn: its HTTP handling (parsing, keep-alive, writing the
answer) is Rust, outside the interpreter, where gunicorn's threaded worker spent about a
fifth of each page's CPU in Python handing every kept-alive connection between its
poller and its threads (py-spy, issue 13). On the same machine and data,
bench/throughput.py served up to a quarter more pages a second with it, mostly
15-22 % more (the README's Benchmarks: issue 13, the page server).

Each worker process runs the WSGI application on up to ``--threads`` threads
(PAGE_SERVER_THREADS, default 50), and takes no more requests at once than that
(granian's backpressure): where LIVE_EVENTS_URL is unset, an agent's open page holds
one screen-pop stream (customers.telephony) on one thread for up to 25 s, and a worker
full of streams then leaves new connections to the others. A worker that dies is
started again by granian; scripts/run.sh supervises the server itself.

Its log and access log pass through the CRM's masking filter, as Django's do
(crm_site.logging.server_logging); the access log gives the path without its query
string (a search's text is personal data).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ACCESS_LOG_FORMAT = (
    '%(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1f ms'
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT")
    parser.add_argument("--workers", type=int, default=3, help="processes")
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("PAGE_SERVER_THREADS", "50")),
        help="threads per process, each serving one request at a time",
    )
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--access-log-format",
        default=ACCESS_LOG_FORMAT,
        help="granian's access log format; empty: no access log",
    )
    return parser.parse_args(argv)


def server(args: argparse.Namespace):
    """The granian server ``args`` describe, not started."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    from crm_site.logging import server_logging

    host, _, port = args.bind.rpartition(":")
    return Granian(
        "crm_site.wsgi:application",
        address=host.strip("[]") or "127.0.0.1",
        port=int(port),
        interface=Interfaces.WSGI,
        workers=args.workers,
        blocking_threads=args.threads,
        backpressure=args.threads,
        backlog=args.backlog,
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels(args.log_level),
        log_dictconfig=server_logging({"_granian": "INFO", "granian.access": "INFO"}),
        log_access=bool(args.access_log_format),
        log_access_format=args.access_log_format or None,
        respawn_failed_workers=True,
        workers_kill_timeout=30,
        working_dir=ROOT,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # The masking filter of the log's configuration, and the application, import
    # from the project.
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
    # The workers' settings size what streams may take of them by it
    # (LIVE_THREADED_STREAMS).
    os.environ["PAGE_SERVER_THREADS"] = str(args.threads)
    server(args).serve()


if __name__ == "__main__":
    main()
