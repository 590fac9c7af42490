"""Shared helpers for the benchmark scripts in bench/ (not part of the application)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SAMPLE_FILE = OUT / "sample.json"

# Every mainland mobile number is PREFIX + 8 digits; the generator walks a fixed
# permutation of this space, so numbers are unique without remembering them.
MOBILE_SPACE_PER_PREFIX = 10**8
# The permutation is a small Feistel network over 34 bits with cycle walking: a
# bijection, so no two indexes give the same number, and neighbouring indexes give
# unrelated numbers (tails and prefixes look random).
_HALF_BITS = 17
_HALF_MASK = (1 << _HALF_BITS) - 1
# bench/import_bench.py takes its numbers from here on, far from generate.py's.
IMPORT_INDEX_BASE = 3_000_000_000


def django_setup() -> None:
    """Make the project importable and start Django with the environment's settings.

    BENCH_PROJECT_ROOT=/path/to/another/checkout runs the scripts against that copy
    of the application (e.g. a `git archive` of a commit) instead of this one."""
    project = os.environ.get("BENCH_PROJECT_ROOT") or str(ROOT)
    if project not in sys.path:
        sys.path.insert(0, project)
    if project != str(ROOT):
        # Celery puts the working directory first on sys.path: make it that copy.
        os.chdir(project)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
    debug = os.environ.get("DJANGO_DEBUG", "").lower() in ("1", "true", "yes", "on")
    if not debug and not os.environ.get("DJANGO_SECRET_KEY"):
        # The settings refuse to start without a key when debug is off. These scripts
        # sign nothing.
        os.environ["DJANGO_SECRET_KEY"] = "bench-only-not-secret"
    if not debug and not os.environ.get("ID_NUMBER_HASH_KEY"):
        # Nor without the ID-number hash key; use the server's to match its hashes.
        os.environ["ID_NUMBER_HASH_KEY"] = "bench-only-not-secret-id-key"
    import django

    django.setup()


def page_server_command(
    bind: str, workers: int, *, threads: int | None = None, extra: tuple[str, ...] = ()
) -> list[str]:
    """The page server (granian, scripts/page_server.py) as scripts/run.sh starts it,
    from BENCH_PROJECT_ROOT's copy when set: run it with that copy as its working
    directory."""
    project = Path(os.environ.get("BENCH_PROJECT_ROOT") or ROOT)
    command = [sys.executable, str(project / "scripts" / "page_server.py")]
    command += ["--bind", bind, "--workers", str(workers)]
    if threads is not None:
        command += ["--threads", str(threads)]
    return command + list(extra)


def live_server_command(bind: str, *, extra: tuple[str, ...] = ()) -> list[str]:
    """The event-stream server (crm_site.live_server, gunicorn's asgi worker) as
    scripts/run.sh starts it, its logs at warning level."""
    command = [str(Path(sys.executable).parent / "gunicorn")]
    command += ["crm_site.live_server:application", "--bind", bind, *extra]
    command += ["--config", str(ROOT / "scripts" / "gunicorn_live.conf.py")]
    return [*command, "--log-level", "warning"]


def quit_servers(*servers) -> None:
    """Stop the benches' servers (subprocess.Popen, each the leader of its own process
    group; None is skipped) at once: open streams would hold a graceful stop for its
    timeout."""
    import signal
    import subprocess

    for server in servers:
        if server is None:
            continue
        os.killpg(server.pid, signal.SIGQUIT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _feistel(value: int, seed: int) -> int:
    left, right = value >> _HALF_BITS, value & _HALF_MASK
    for round_key in (0x5BD1E995, 0x1B873593, 0x85EBCA6B, 0xC2B2AE35):
        mixed = ((right * 0x9E3779B1) ^ (right >> 5) ^ (round_key + seed)) & _HALF_MASK
        left, right = right, left ^ mixed
    return (left << _HALF_BITS) | right


def mobile_for_index(index: int, *, prefixes: list[str], seed: int = 0) -> str:
    """The E.164 number at position `index` of a seeded permutation of all numbers."""
    space = len(prefixes) * MOBILE_SPACE_PER_PREFIX
    if not 0 <= index < space:
        raise ValueError(f"index {index} outside the number space")
    value = _feistel(index, seed)
    while value >= space:  # cycle walking keeps the map a bijection on [0, space)
        value = _feistel(value, seed)
    prefix, rest = divmod(value, MOBILE_SPACE_PER_PREFIX)
    return f"+86{prefixes[prefix]}{rest:08d}"


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_escape(text: str) -> str:
    """A value for PostgreSQL's COPY text format (NULL is written as \\N separately)."""
    return text.translate(_COPY_ESCAPES)
