"""Settings for Anju CRM, read from the environment (see .env.example)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [
        item.strip()
        for item in os.environ.get(name, default).split(",")
        if item.strip()
    ]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        # A deployment that forgot its key must not start with a guessable one.
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-debug-on"

# Key of the hash that matches identity numbers. Set it once and keep it: changing it
# breaks matching of numbers already stored. Its own key, never the secret key: rotating
# the secret key (sessions, signed links) must not orphan every stored hash, and a
# leaked secret key must not make the hashes searchable.
ID_NUMBER_HASH_KEY = os.environ.get("ID_NUMBER_HASH_KEY", "")
if not ID_NUMBER_HASH_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "ID_NUMBER_HASH_KEY must be set when DJANGO_DEBUG is off."
        )
    ID_NUMBER_HASH_KEY = "insecure-development-id-hash-key-only-used-with-debug-on"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "crm_site",
    "customers",
    "sales",
    "service",
    "marketing",
    "crm_site.apps.CrmAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    # A view that cannot reach PostgreSQL answers with the friendly 503 page.
    "crm_site.outage.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so static files keep their own headers and caching.
    "crm_site.csp.CSPMiddleware",
    "crm_site.no_store.PrivateCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Owners' sessions, separate from staff sessions (own cookie and table), on the
    # portal's paths only (crm_site.portal).
    "crm_site.portal.OwnerSessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "crm_site.middleware.InputGuardMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Turns a login refused by the lock-out into the login page with its message.
    "axes.middleware.AxesMiddleware",
    # Last, so that it wraps only the view: see crm_site/submissions.py.
    "crm_site.submissions.SubmitOnceMiddleware",
]

ROOT_URLCONF = "crm_site.urls"
WSGI_APPLICATION = "crm_site.wsgi.application"
ASGI_APPLICATION = "crm_site.asgi.application"
# Requests answered in the WSGI callable before Django's handling (crm_site.lanes):
# the phone's choice in opening day's rush.
WSGI_LANES = ["sales.opening_lane.answer"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm_site.context_processors.navigation",
                "crm_site.context_processors.portal_navigation",
            ],
            # {% load i18n %} with constant {% translate %} rendered once per language
            # (crm_site/templatetags/translate_once.py). Django's check of library
            # names (templates.W003) is silenced below for it; crm_site.checks checks
            # every other name the same way.
            "libraries": {"i18n": "crm_site.templatetags.translate_once"},
            # {% url "constant" %} reversed once per process
            # (crm_site/templatetags/url_once.py).
            "builtins": ["crm_site.templatetags.url_once"],
        },
    },
    # Row templates (``templates/<app>/_x_rows.jinja``) for the loops of the busiest
    # pages, called from Django templates with {% rows %}; see crm_site/jinja.py.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "crm_site.jinja.environment"},
    },
]

# The i18n library above is replaced on purpose: see crm_site.checks.
SILENCED_SYSTEM_CHECKS = ["templates.W003"]

# Databases and Redis ------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/anju"),
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# A PostgreSQL that does not answer fails the request in seconds (the 503 page,
# crm_site.outage) instead of holding a web worker.
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = int(
    os.environ.get("DATABASE_CONNECT_TIMEOUT", "3")
)

# Reads off the primary (docs/replica.md): a PostgreSQL streaming replica for the
# reporting pages and exports, which opt in with crm_site.replica.reads_from_replica
# or replica_reads(). Everything else, and every write, stays on "default".
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
# The replica serves reporting reads while its replay lag is at most this many
# seconds; further behind (or unreachable), those reads go to the primary.
DATABASE_REPLICA_MAX_LAG = float(os.environ.get("DATABASE_REPLICA_MAX_LAG", "30"))
# How long a process trusts its last look at the replica (reachable, lag): a page
# pays at most one check, and a replica that is down costs one connect timeout per
# process per interval, not one per page.
DATABASE_REPLICA_CHECK_SECONDS = float(
    os.environ.get("DATABASE_REPLICA_CHECK_SECONDS", "5")
)
# A switch that keeps every read on the primary without removing the replica (its
# maintenance; scripts/test.sh, whose tests read the rows they have just written).
DATABASE_REPLICA_READS = env_bool("DATABASE_REPLICA_READS", True)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
    # Short: a replica that does not answer sends the reads to the primary, and the
    # page should not wait long to find out (libpq counts at least 2 seconds).
    DATABASES["replica"].setdefault("OPTIONS", {})["connect_timeout"] = int(
        os.environ.get("DATABASE_REPLICA_CONNECT_TIMEOUT", "2")
    )
    # Tests create their database on the primary only; the replica receives it by
    # physical replication, so the "replica" alias keeps its server and takes the
    # test database's name (tests/crm_site/test_replica.py).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["crm_site.replica.ReplicaRouter"]
# The busiest pages' queries run as statements prepared once per connection
# (crm_site.prepared). Off behind a pooler in transaction mode, which does not keep a
# server connection's prepared statements for the next transaction.
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Seconds a web request waits for Redis (cache, sessions, publishing a task) before
# going on without it. Pages must answer within 1 s while Redis hangs.
REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "0.3"))
# The event-stream server (crm_site.live_server, started by scripts/run.sh): where the
# pages open their event streams ("http://127.0.0.1:8001"; empty: on this server, or
# behind a proxy that sends the stream paths there), and the pages' origins it lets
# read them with their cookies.
LIVE_EVENTS_URL = os.environ.get("LIVE_EVENTS_URL", "").rstrip("/")
LIVE_PAGE_ORIGINS = env_list("LIVE_PAGE_ORIGINS")
# Event streams the page server's process serves on its own threads at once (where no
# event-stream server answers): half its threads (scripts/page_server.py), the rest
# kept for pages; a stream beyond it is told to come back later (crm_site.live).
LIVE_THREADED_STREAMS = int(
    os.environ.get(
        "LIVE_THREADED_STREAMS",
        max(1, int(os.environ.get("PAGE_SERVER_THREADS", "50")) // 2),
    )
)

CACHES = {
    "default": {
        "BACKEND": "crm_site.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "anju",
        "TIMEOUT": 300,
        # Fail fast when Redis is down or hangs: the cache then misses, and is skipped
        # for `retry_after` seconds so a page pays the timeout at most once
        # (crm_site.cache). Local Redis answers in well under a millisecond.
        "OPTIONS": {
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
            "retry_after": 5,
        },
    }
}

# Authentication -----------------------------------------------------------

AUTH_USER_MODEL = "crm_site.User"
# First django-axes' lock-out check (it logs nobody in, it refuses locked-out
# credentials), then ModelBackend with the permission sets cached
# (see crm_site/auth_backends.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "crm_site.auth_backends.CachedPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling (django-axes, see crm_site/lockout.py). After LOGIN_FAILURE_LIMIT
# wrong passwords for one username, or LOGIN_ADDRESS_FAILURE_LIMIT from one address
# (higher: a sales office often shares one address), logging in is refused for
# LOGIN_LOCKOUT_MINUTES, the right password included, unless an administrator unlocks
# it first. Attempts are rows in PostgreSQL, not the cache: a lock-out survives a Redis
# restart, and a Redis outage (the cache then misses) cannot open the door.
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "20"))
LOGIN_LOCKOUT_MINUTES = int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15"))
AXES_HANDLER = "crm_site.lockout.LockoutHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
# Failures while locked out do not restart the clock: the message's "N minutes" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "crm_site.lockout.lockout_response"
# Behind a reverse proxy, REMOTE_ADDR is the proxy: read the client's address from the
# header the proxy sets (see crm_site/lockout.py).
AXES_CLIENT_IP_CALLABLE = "crm_site.lockout.client_address"

# Owners' portal (crm_site.portal, customers.portal) -------------------------------
# Owner sessions: their own cookie, sent only under PORTAL_PATH. A session ends with
# the browser (and after PORTAL_SESSION_SECONDS at the latest) unless the owner asks
# to remember the device, then it lasts PORTAL_REMEMBER_DAYS.
PORTAL_PATH = "/portal/"
PORTAL_SESSION_COOKIE = "anju_owner"
PORTAL_SESSION_SECONDS = int(
    os.environ.get("PORTAL_SESSION_SECONDS", str(60 * 60 * 12))
)
PORTAL_REMEMBER_DAYS = int(os.environ.get("PORTAL_REMEMBER_DAYS", "30"))
# How long an owner session trusts its household and eligibility before asking the
# apps again (a lost deal or a removed co-buyer takes effect within this time).
PORTAL_RECHECK_SECONDS = int(os.environ.get("PORTAL_RECHECK_SECONDS", "60"))
# One-time sign-in codes: how long one lives, how many wrong tries burn it, and how
# many may be asked for per number (at most one each PORTAL_CODE_INTERVAL_SECONDS)
# and per address within an hour. Wrong codes lock out the address that sent them
# (LOGIN_ADDRESS_FAILURE_LIMIT), never the number (anyone who knows it could lock its
# owner out); guessing a number's codes stays bounded by PORTAL_CODES_PER_NUMBER_HOUR
# × PORTAL_CODE_TRIES an hour.
PORTAL_CODE_MINUTES = int(os.environ.get("PORTAL_CODE_MINUTES", "5"))
PORTAL_CODE_TRIES = int(os.environ.get("PORTAL_CODE_TRIES", "5"))
PORTAL_CODE_INTERVAL_SECONDS = int(os.environ.get("PORTAL_CODE_INTERVAL_SECONDS", "60"))
PORTAL_CODES_PER_NUMBER_HOUR = int(os.environ.get("PORTAL_CODES_PER_NUMBER_HOUR", "5"))
PORTAL_CODES_PER_ADDRESS_HOUR = int(
    os.environ.get("PORTAL_CODES_PER_ADDRESS_HOUR", "20")
)

# Language and time ----------------------------------------------------------

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True
# Region assumed for phone numbers typed without a country code.
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "CN")

# Static files (vendored, served by WhiteNoise: the product runs on intranets) ----

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "var" / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # WhiteNoise's compressed manifest, each URL remembered (crm_site.storage).
        "BACKEND": "crm_site.storage.StaticStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "var" / "media"))
MEDIA_URL = "media/"
# Uploads hold personal data (customer imports with names, mobiles and identity
# numbers; photos): readable by the CRM's own account only, whatever its umask.
# Django applies the same modes to collectstatic's copies (served by WhiteNoise,
# in the same process).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Security -------------------------------------------------------------------

# Behind HTTPS in production; the local demo (scripts/run.sh) turns it off.
SECURE_HTTPS = env_bool("DJANGO_SECURE_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = SECURE_HTTPS
SECURE_HSTS_SECONDS = (
    int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000")) if SECURE_HTTPS else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
if env_bool("DJANGO_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 12
# Sessions are read from Redis and written through to PostgreSQL: no query per request,
# and nobody is logged out when Redis restarts.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content Security Policy (django-csp) on every response: scripts only from our own
# static files (no inline script, no on*= handlers, no eval), nothing may frame a page,
# forms post only to us. Styles allow inline style attributes: the templates set
# progress-bar widths and similar computed values in style="" attributes, which carry no
# script; htmx also adds its indicator <style>.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        # data: for the SVG icons in Bootstrap's CSS and generated QR images.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF, *([LIVE_EVENTS_URL] if LIVE_EVENTS_URL else [])],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# E-mail -----------------------------------------------------------------------

# The default prints each mail's kind, masked recipient and size, never its text or
# links (crm_site/mail.py); set the SMTP backend in production.
EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND", "crm_site.mail.MaskedConsoleEmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Anju CRM <crm@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# SMS gateway: a dotted path to a crm_site.messaging.SmsBackend. The default writes each
# message to the log; a developer plugs in their provider's backend here.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "crm_site.messaging.LogSmsBackend")

# Celery -------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A task is acknowledged only when it has finished, so a crashed worker's task is
# delivered again; every task is written to be safe when that happens.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The niceness of the worker's pool processes (crm_site.celery): background work
# gives the pages the CPU first when both want it. 0 leaves it as started.
CELERY_WORKER_NICE = int(os.environ.get("CELERY_WORKER_NICE", "10"))
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
# Redis redelivers an unacknowledged task after this; longer than any task runs.
# Publishing (after a request's commit) waits at most REDIS_SOCKET_TIMEOUT per try and
# retries once (a pooled connection may have died with a Redis restart); a failed
# publish is logged and the row is picked up by its sweeper (crm_site.celery).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0,
    "interval_max": 0,
}
# The worker's own broker connection (BRPOP, acknowledgements) may wait longer.
CELERY_WORKER_BROKER_SOCKET_TIMEOUT = 10.0
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# When consultants get their morning digest of follow-ups (local time), and after how
# many overdue days a follow-up is escalated to the sales manager.
FOLLOW_UP_DIGEST_HOUR = int(os.environ.get("FOLLOW_UP_DIGEST_HOUR", "8"))
FOLLOW_UP_ESCALATE_DAYS = int(os.environ.get("FOLLOW_UP_ESCALATE_DAYS", "3"))

# How often beat ticks and the worker records that it is alive (crm_site.celery), and
# how old the last heartbeat may be before /health/ reports the worker or beat down:
# a dead worker shows within HEALTH_HEARTBEAT_MAX_AGE + one interval.
HEALTH_HEARTBEAT_INTERVAL = float(os.environ.get("HEALTH_HEARTBEAT_INTERVAL", "10"))
HEALTH_HEARTBEAT_MAX_AGE = int(os.environ.get("HEALTH_HEARTBEAT_MAX_AGE", "25"))

CELERY_BEAT_SCHEDULE = {
    # Every HEALTH_HEARTBEAT_INTERVAL: proves beat is publishing and the worker is
    # consuming, for /health/. Expires unrun: a stopped worker finds no backlog.
    "heartbeat": {
        "task": "crm_site.tasks.heartbeat",
        "schedule": HEALTH_HEARTBEAT_INTERVAL,
        "options": {"expires": HEALTH_HEARTBEAT_INTERVAL * 2},
    },
    # Every 5 min: imports a lost task or a dead worker left behind. A run still
    # "running" past its task's hard time limit is failed and its committed batches
    # reverted; an import or dry run queued over 5 min ago and never taken is queued
    # again. Each job is claimed with a conditional UPDATE: repeated runs act once.
    "customers-imports-sweep": {
        "task": "customers.tasks.imports_sweep",
        "schedule": 300.0,
    },
    # Every 5 min: units whose hold (认筹/预留) deadline passed go back on sale, and
    # the consultant is told. The holds are rows, so a missed run is caught up next time.
    "sales-holds-expire": {"task": "sales.tasks.holds_expire", "schedule": 300.0},
    # Every 15 min: registrations whose protection lapsed return their customers to the
    # public pool. Lapsing is claimed row by row, so overlapping runs do it once.
    "sales-registrations-sweep": {
        "task": "sales.tasks.registrations_sweep",
        "schedule": 900.0,
    },
    # Hourly: warn consultants of customers about to lapse (each registration once).
    # Runs once per clock hour (crm_site.jobs); a run missed while the stack was down
    # is caught up by "jobs-catch-up".
    "sales-registrations-warn": {
        "task": "sales.tasks.registrations_warn",
        "schedule": 3600.0,
    },
    # Every morning at FOLLOW_UP_DIGEST_HOUR: each consultant's digest row of today's and
    # overdue follow-ups and customers about to lapse, then one message per row; the
    # overdue follow-ups are escalated to the sales manager. The job runs once a day
    # (crm_site.jobs records the day on its JobRun row), so "jobs-catch-up" produces
    # it when the stack was down at the hour, and never twice.
    "sales-follow-up-digest": {
        "task": "sales.tasks.follow_up_digest",
        "schedule": crontab(hour=FOLLOW_UP_DIGEST_HOUR, minute=0),
    },
    # Every 15 min: digests whose message was lost (Redis down, worker crashed) are
    # queued again; each is claimed before it is sent, and one a crash left "sending"
    # is checked or parked (crm_site.outbox), so none goes out twice.
    "sales-digests-send-pending": {
        "task": "sales.tasks.digests_send_pending",
        "schedule": 900.0,
    },
    # Every 4 min: the sales dashboard of every scope, precomputed (cached 5 min).
    "sales-dashboard-warm": {"task": "sales.tasks.dashboard_warm", "schedule": 240.0},
    # Every 10 min: overdue service requests go up the escalation ladder, each rung once.
    "service-escalations-sweep": {
        "task": "service.tasks.escalations_sweep",
        "schedule": 600.0,
    },
    # Every 4 min: recompute the service dashboard's default view (cached 5 min), so a
    # manager opening it never waits for the aggregates. Running twice only recomputes.
    "service-dashboard-warm": {
        "task": "service.tasks.dashboard_warm",
        "schedule": 240.0,
    },
    # Every minute: one batch of queued campaign invitations per campaign (the rate
    # limit); invitations interrupted mid-send are checked with the gateway by their
    # key (sent, queued again, or parked for review), never sent twice.
    "marketing-invitations-pump": {
        "task": "marketing.tasks.invitations_pump",
        "schedule": 60.0,
    },
    # Hourly, at :05 (Asia/Shanghai): running campaigns whose end date has passed (it
    # is a calendar day; a campaign runs through it) are recorded as finished, audited
    # like a marketer's Finish, and their unsent invitations withdrawn. Reads already
    # treat them as ended; each campaign is moved once under its row lock, so a
    # repeated or missed run finishes nothing twice and nothing is left behind.
    "marketing-campaigns-finish": {
        "task": "marketing.tasks.campaigns_finish",
        "schedule": crontab(minute=5),
    },
    # Hourly: member-club points for every active rule's occurrences since the last
    # run (surveys answered, years of ownership, and any on-commit award that was
    # lost). Runs once per clock hour (crm_site.jobs; "jobs-catch-up" runs a missed
    # one); each occurrence is keyed, so nothing is awarded twice.
    "marketing-points-sweep": {
        "task": "marketing.tasks.points_sweep",
        "schedule": 3600.0,
    },
    # Every 50 s, inside the overview's one-minute cache: the managers' default
    # overview of each scope is always ready. Only a cache write; a lost run costs one
    # cold page.
    "crm-overview-warm": {"task": "crm_site.tasks.overview_warm", "schedule": 50.0},
    # Every minute: the explorer's fact tables take in the rows changed since the
    # last run (marked by triggers in the changing transaction, so a missed run is
    # caught up by the next one; crm_site.insight).
    "crm-insight-refresh": {
        "task": "crm_site.tasks.insight_refresh",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    # Every 15 min: weekly and monthly reports by e-mail (crm_site.reports) that are
    # due get their outbox row (unique per subscription and day, so a second run or
    # one after a crash queues nothing more) and are sent; a missed run is caught up.
    "crm-reports-send": {
        "task": "crm_site.tasks.reports_send",
        "schedule": 900.0,
        "options": {"expires": 900},
    },
    # Every 5 min: daily and hourly jobs (crm_site.jobs: the morning digest, the lapse
    # warning) whose run for the current day or hour is missing (beat or the worker
    # was down at the time) run now, once: the job's JobRun row is the guard.
    "jobs-catch-up": {"task": "crm_site.tasks.jobs_catch_up", "schedule": 300.0},
    # Nightly: one-time form tokens older than two days are forgotten (a form sent
    # again after that is a new submission). Deleting twice deletes nothing more.
    # Nightly: expired owner portal sessions and week-old sign-in code rows are
    # forgotten. Deleting twice deletes nothing more.
    "crm-portal-sessions-prune": {
        "task": "crm_site.tasks.portal_sessions_prune",
        "schedule": crontab(hour=3, minute=40),
    },
    "customers-portal-codes-prune": {
        "task": "customers.tasks.portal_codes_prune",
        "schedule": crontab(hour=3, minute=45),
    },
    "crm-submissions-prune": {
        "task": "crm_site.tasks.submissions_prune",
        "schedule": crontab(hour=3, minute=30),
    },
}
# Handover notices and satisfaction surveys (service): links in messages to owners start
# with PUBLIC_BASE_URL; a survey link works for SURVEY_LINK_MAX_AGE_DAYS; an owner who has
# not answered is reminded once after SURVEY_REMINDER_AFTER_DAYS; the handover survey
# goes out SURVEY_AFTER_HANDOVER_DAYS after the keys are handed over.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://localhost:8000").rstrip("/")
SURVEY_LINK_MAX_AGE_DAYS = int(os.environ.get("SURVEY_LINK_MAX_AGE_DAYS", "14"))
SURVEY_REMINDER_AFTER_DAYS = int(os.environ.get("SURVEY_REMINDER_AFTER_DAYS", "5"))
SURVEY_AFTER_HANDOVER_DAYS = int(os.environ.get("SURVEY_AFTER_HANDOVER_DAYS", "7"))
CELERY_BEAT_SCHEDULE |= {
    # Every 5 min: handover notices still to send (their task was lost, the broker was
    # down, or sending failed and may be retried). Each row is claimed once.
    "service-handover-notices": {
        "task": "service.tasks.handover_notices_send",
        "schedule": 300.0,
    },
    # Every 10 min: survey invitations that are due (a request closed, or 7 days after
    # a handover). Each is claimed with a conditional UPDATE, so it is sent once.
    "service-survey-invitations": {
        "task": "service.tasks.survey_invitations_send",
        "schedule": 600.0,
    },
    # Every 10 min: a reminder row for each owner who has not answered after N days
    # (one per invitation: its key), and a task for each reminder due. Any run does
    # what a missed one left, so an outage only delays reminders.
    # Every minute: owner portal sign-in codes whose task was lost (broker down) and
    # that are still alive (5 minutes); the outbox claims each row, so none goes twice.
    "customers-portal-codes": {
        "task": "customers.tasks.portal_codes_send_pending",
        "schedule": 60.0,
    },
    "service-survey-reminders": {
        "task": "service.tasks.survey_reminders_send",
        "schedule": 600.0,
    },
    # Every 5 min: messages to owners about their portal requests and letters whose
    # task was lost or whose retry is due (each row is claimed once, so never twice).
    "service-portal-notices": {
        "task": "service.tasks.portal_notices_send",
        "schedule": 300.0,
    },
    # Every minute: selection-order messages (a buyer's number and slot, issue 16)
    # whose task was lost; the outbox claims each row, so none goes twice.
    "sales-session-order-notices": {
        "task": "sales.tasks.session_order_notices_send",
        "schedule": 60.0,
    },
    # Every minute: opening-day selections claimed on a buyer's phone whose paperwork
    # (deal, subscription, deposit applied) was not done 30 s later: its task was
    # lost or the worker was down. Signing is guarded by the selection's row lock.
    "sales-selections-complete": {
        "task": "sales.tasks.selections_complete_pending",
        "schedule": 60.0,
    },
}
# Outgoing messages (crm_site.outbox): a message still "sending" after this many seconds
# was interrupted by a crash and is checked with the provider (or parked for review).
OUTBOX_STALE_AFTER_SECONDS = int(os.environ.get("OUTBOX_STALE_AFTER_SECONDS", "600"))
# Webhooks (crm_site.webhooks): a POST waits WEBHOOK_TIMEOUT_SECONDS for an answer; a
# delivery "sending" for WEBHOOK_STALE_AFTER_SECONDS was interrupted and is sent again
# (same webhook-id). A subscription pauses after WEBHOOK_PAUSE_AFTER_FAILURES failed
# deliveries in a row or failing for WEBHOOK_PAUSE_AFTER_HOURS. Receivers on this
# machine or the private network (and plain http) only with
# WEBHOOK_ALLOW_PRIVATE_TARGETS=true (an intranet); link-local never.
WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "10"))
WEBHOOK_STALE_AFTER_SECONDS = int(os.environ.get("WEBHOOK_STALE_AFTER_SECONDS", "60"))
WEBHOOK_PAUSE_AFTER_FAILURES = int(os.environ.get("WEBHOOK_PAUSE_AFTER_FAILURES", "20"))
WEBHOOK_PAUSE_AFTER_HOURS = int(os.environ.get("WEBHOOK_PAUSE_AFTER_HOURS", "12"))
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
# After a secret is rotated, deliveries carry a signature with the old one too for this
# many hours, so the receiver can switch without refusing any.
WEBHOOK_SECRET_OVERLAP_HOURS = int(os.environ.get("WEBHOOK_SECRET_OVERLAP_HOURS", "24"))
CELERY_BEAT_SCHEDULE |= {
    # Every minute: webhook deliveries whose task was lost or whose retry is due, after
    # those a dead worker left "sending" are made due again (same webhook-id, which
    # receivers de-duplicate by). Each row is claimed once per attempt.
    "crm-webhooks-send-pending": {
        "task": "crm_site.tasks.webhooks_send_pending",
        "schedule": 60.0,
    },
}
# Marketing: invitations handed to the providers per minute (each sender run sends one
# batch of this size). Their public links (sign-up, unsubscribe) start with
# PUBLIC_BASE_URL, like the service's.
MARKETING_SEND_PER_MINUTE = int(os.environ.get("MARKETING_SEND_PER_MINUTE", "300"))

# Service clusters: the same category reported in at least this many units of one
# building within this many days is flagged as one problem.
SERVICE_CLUSTER_MIN_UNITS = int(os.environ.get("SERVICE_CLUSTER_MIN_UNITS", "3"))
SERVICE_CLUSTER_DAYS = int(os.environ.get("SERVICE_CLUSTER_DAYS", "30"))

# Logging --------------------------------------------------------------------------

# Every handler masks mobile numbers, resident ID numbers and signed links
# (crm_site/logging.py): the log is read by more people than the customer table.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_personal": {"()": "crm_site.logging.MaskPersonalDataFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_personal"],
        }
    },
    "root": {
        "handlers": ["console"],
        "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"),
    },
}

# Marketing: the reward of an owner referral (老带新) at a project without its own rule.
REFERRAL_REWARD_DEFAULT = os.environ.get("REFERRAL_REWARD_DEFAULT", "5000.00")

# The REST API (crm_site.api): Django REST framework, with drf-spectacular for the
# OpenAPI 3 schema and its documentation page (assets from drf-spectacular-sidecar,
# served by us: the product runs on intranets without a CDN).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["crm_site.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["crm_site.api.scopes.HasScope"],
    "DEFAULT_PAGINATION_CLASS": "crm_site.api.pagination.Cursor",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "crm_site.api.schema.ApiSchema",
    "EXCEPTION_HANDLER": "crm_site.api.problems.problem_handler",
    # Each key's own rate_per_minute, counted in Redis (crm_site.api.throttling).
    "DEFAULT_THROTTLE_CLASSES": ["crm_site.api.throttling.KeyRateThrottle"],
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Anju CRM API",
    "DESCRIPTION": (
        "Customers, interactions, inventory, deals, service requests, campaign "
        "sign-ups and survey results, for the systems around the CRM.\n\n"
        "**Keys.** Every call sends an integration's key, created by an administrator "
        "(admin → API keys): `Authorization: Bearer anju_…`. The key acts as a user: "
        "it sees, masks and may do what that user's role allows, narrowed to its "
        "scopes (403 without the scope). Each key has a rate per minute (429 with "
        "`Retry-After` above it).\n\n"
        "**Errors** are RFC 9457 problem details (`application/problem+json`) in the "
        "language of `Accept-Language` (`zh-Hans`, the default, or `en`); invalid "
        "input lists each field in `errors`.\n\n"
        "**Idempotency-Key** on a POST: a retry with the same key and body returns "
        "the first answer (`Idempotent-Replayed: true`) instead of acting twice; the "
        "same key with another body is 422, while the first still runs 409. Kept 24 "
        "hours.\n\n"
        "**Lists** are cursor-paginated: follow `next` (`?cursor=…`); `page_size` up "
        "to 200."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name across resources ("kind", "stage",
    # "status", "channel") get names of their own instead of hashed ones.
    "ENUM_NAME_OVERRIDES": {
        "CustomerKindEnum": "customers.models.Customer.Kind",
        "CustomerStageEnum": "customers.models.Customer.Stage",
        "ContactChannelEnum": "customers.models.Channel",
        "DealStageEnum": "sales.models.Opportunity.Stage",
        "UnitStatusEnum": "sales.models.Unit.Status",
        "RequestKindEnum": "service.models.ServiceRequest.Kind",
        "RequestStatusEnum": "service.models.ServiceRequest.Status",
        "RequestChannelEnum": "service.models.ServiceRequest.Channel",
        "DepartmentEnum": "service.models.Department",
    },
    # The key's security scheme (crm_site.api.schema.ApiKeyScheme), the problem
    # responses every operation may answer and Idempotency-Key on every POST are
    # added to every operation (crm_site.api.schema), so a resource declares only
    # what is its own.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm_site.api.schema.add_common_responses",
    ],
}
CELERY_BEAT_SCHEDULE |= {
    # Hourly: the API's stored answers to Idempotency-Key POSTs are kept 24 hours
    # (crm_site.api.idempotency); older rows are removed in one DELETE on an index.
    "api-idempotency-purge": {
        "task": "crm_site.tasks.idempotency_purge",
        "schedule": 3600.0,
    },
    # Every minute: the API keys' last use, noted in Redis by each call (no database
    # write per call), copied to their rows for the admin's list. A missed run is
    # caught up by the next (the notes live a day).
    "api-keys-last-use": {
        "task": "crm_site.tasks.api_keys_last_use_save",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
}
