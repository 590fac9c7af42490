"""scripts/lib.sh supervises scripts/run.sh's children: a killed child is started again
with a back-off, and SIGTERM stops everything, leaving no process behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
source scripts/lib.sh
anju_init test
anju_spawn sleeper sleep 600
anju_supervise_children
"""


def _started(lines: list[str]) -> list[int]:
    return [
        int(m.group(1))
        for line in lines
        if (m := re.search(r"Started sleeper \(pid (\d+)\)", line))
    ]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _collect(proc, lines: list[str]) -> None:
    thread = threading.Thread(
        target=lambda: lines.extend(line.rstrip("\n") for line in proc.stderr),
        daemon=True,
    )
    thread.start()


def _read_until(proc, lines: list[str], predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(list(lines)):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out; output so far: {lines}")


def test_a_killed_child_is_restarted_with_a_back_off_and_sigterm_stops_all():
    env = {**os.environ, "ANJU_RESTART_MIN_DELAY": "1", "ANJU_RESTART_MAX_DELAY": "4"}
    proc = subprocess.Popen(
        ["bash", "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    _collect(proc, lines)
    try:
        _read_until(proc, lines, lambda ls: len(_started(ls)) == 1, 20)
        first = _started(lines)[0]
        os.kill(first, signal.SIGKILL)
        _read_until(proc, lines, lambda ls: len(_started(ls)) == 2, 20)
        assert any("restarting it in 1 s" in line for line in lines)
        second = _started(lines)[1]
        assert second != first and _alive(second)
        # A second crash soon after: the back-off doubles.
        os.kill(second, signal.SIGKILL)
        _read_until(proc, lines, lambda ls: len(_started(ls)) == 3, 20)
        assert any("restarting it in 2 s" in line for line in lines)
        third = _started(lines)[2]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 143
        assert not _alive(third)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
