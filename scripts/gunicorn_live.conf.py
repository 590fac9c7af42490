"""Gunicorn settings of the event-stream server (crm_site.live_server), which
scripts/run.sh starts next to the page server on a port of its own.

One process with gunicorn's asyncio ``asgi`` worker holds every open stream: a
stream costs a socket and a queue, no thread and no Redis connection of its own
(crm_site.live._Hub), so a few thousand fit. The logs pass through the CRM's masking
filter, as the page server's do (scripts/gunicorn.conf.py).
"""

import os
import runpy

_pages = runpy.run_path(os.path.join(os.path.dirname(__file__), "gunicorn.conf.py"))

worker_class = "asgi"
workers = int(os.environ.get("LIVE_WORKERS", "1"))
worker_connections = int(os.environ.get("LIVE_CONNECTIONS", "4000"))
timeout = 30
# Open streams end at once on a restart; their browsers reconnect and replay.
graceful_timeout = 5
logconfig_dict = _pages["logconfig_dict"]
