"""The page server's worker (crm_site.gunicorn_worker.ThreadWorker) closes a
connection without holding up the others: gunicorn's gthread worker waited on its
main thread, up to 2 s, for each client to close its side."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = """
def application(environ, start_response):
    body = b"x" * 20000
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    (tmp_path / "hello_app.py").write_text(APP)
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "hello_app:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "2",
            "--worker-class",
            "crm_site.gunicorn_worker.ThreadWorker",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("gunicorn did not start")
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def _ask(port: int, *, extra: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + extra)
    return sock


def _read_to_end(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_client_that_does_not_close_holds_up_no_one(server):
    lingering = _ask(server)
    answer = _read_to_end(lingering)  # the server's FIN ends the answer
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"x" * 100)
    # The first client keeps its side open; gthread's main thread waited for it.
    started = time.monotonic()
    for _ in range(5):
        other = _ask(server)
        assert _read_to_end(other).endswith(b"x" * 100)
        other.close()
    assert time.monotonic() - started < 1.0
    lingering.close()


def test_unread_request_bytes_do_not_cut_the_answer_short(server):
    """The reason for the graceful close: bytes the application never read are
    drained, so the kernel does not reset the connection under the answer."""
    sock = _ask(server, extra=b"y" * 30000)
    answer = _read_to_end(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200")
    assert answer.endswith(b"x" * 20000)
