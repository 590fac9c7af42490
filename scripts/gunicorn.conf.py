"""Gunicorn settings for scripts/run.sh.

Workers are threaded (gthread): an agent's open page holds one server-sent events
stream (the screen pop, customers.telephony) on one thread for up to 25 s at a time,
then reconnects. Each worker serves ``threads`` requests at once, streams included, so
a setting carries about workers × threads − (threads kept for pages) agents; the
defaults (3 workers from scripts/run.sh × 50 threads) carry 120 agents with a page
open while 30 threads serve pages. More agents: raise GUNICORN_THREADS (a thread
waiting on Redis costs little memory and no CPU) or the workers.

Gunicorn's own logs (the access log holds every request path, signed survey, booking
and sign-up links included) pass through the CRM's masking filter, as Django's do.
"""

import os

worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "50"))
# A gthread worker accepts connections beyond its threads and queues them; with no
# more than it has threads, a worker full of streams leaves new connections to the
# others (they share the listening socket) instead of making them wait.
worker_connections = threads
# A request (a stream included) is not a stuck worker: gthread workers notify the
# arbiter from their main loop, so this bounds only a worker that hangs entirely.
timeout = 30
graceful_timeout = 30

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_personal": {"()": "crm_site.logging.MaskPersonalDataFilter"}},
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "filters": ["mask_personal"],
            "stream": "ext://sys.stdout",
        }
    },
    "loggers": {
        "gunicorn.error": {
            "level": "INFO",
            "handlers": ["console"],
            "propagate": False,
        },
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["console"],
            "propagate": False,
        },
    },
}
