"""Gunicorn settings of the event-stream server (crm_site.live_server), which
scripts/run.sh starts next to the page server (scripts/page_server.py) on a port of
its own.

One process with gunicorn's asyncio ``asgi`` worker holds every open stream: a
stream costs a socket, a queue and a sleeping thread (Django's ASGI handler keeps
one for each request's synchronous code until its answer ends), no Redis or database
connection of its own (crm_site.live._Hub), so a few thousand fit. The logs pass through the CRM's masking
filter, as the page server's do (crm_site.logging.server_logging).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from crm_site.logging import server_logging

worker_class = "asgi"
workers = int(os.environ.get("LIVE_WORKERS", "1"))
worker_connections = int(os.environ.get("LIVE_CONNECTIONS", "4000"))
timeout = 30
# Open streams end at once on a restart; their browsers reconnect and replay.
graceful_timeout = 5
logconfig_dict = server_logging({"gunicorn.error": "INFO", "gunicorn.access": "INFO"})
# The access log as the page server's (scripts/page_server.py): the path without its
# query string, no Referer (a page's address, a search's text in it) nor User-Agent.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(M)s ms'
