"""bench/throughput.py's wrk client (bench/wrk_pages.lua): every path in turn with the
session's cookie, its figures read back, any answer but 200 an error."""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.helpers import bench_module

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (scripts/test.sh does)"
)


@pytest.fixture(scope="module")
def throughput():
    with bench_module("throughput") as module:
        yield module


@pytest.fixture
def site():
    """A loopback server: 200 for a request with the session's cookie, else a
    redirect to the login form, as the CRM answers; it records the paths asked."""
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            cookie = self.headers.get("Cookie")
            seen.append((self.path, cookie))
            body = b"<html>ok</html>"
            self.send_response(200 if cookie == "sessionid=abc" else 302)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_wrk_asks_each_path_with_the_cookie_and_reports_its_figures(throughput, site):
    base_url, seen = site
    paths = ["/customers/", "/customers/?q=%E5%91%A8%E5%86%AC"]

    result = throughput.wrk_phase(base_url, "sessionid=abc", paths, {}, 2, 1)

    assert result["errors"] == []
    assert result["requests"] > 10
    # wrk counts what it finished; a request or two may be cut off at the end.
    assert len(seen) - 4 <= result["requests"] <= len(seen)
    assert {path for path, _ in seen} == set(paths)
    assert {cookie for _, cookie in seen} == {"sessionid=abc"}
    assert 0.9 <= result["seconds"] <= 2.0
    assert 0 < result["p50_ms"] <= result["p95_ms"]
    assert result["cpu_seconds"] > 0


def test_an_answer_other_than_200_is_an_error_not_a_page(throughput, site):
    base_url, _ = site

    result = throughput.wrk_phase(
        base_url, "sessionid=expired", ["/customers/"], {}, 1, 1
    )

    assert result["requests"] == 0
    assert result["errors"]
    assert result["errors"][0] == "HTTP 302 (first of them)"


def test_without_wrk_the_phase_says_how_to_get_it(throughput, monkeypatch):
    monkeypatch.setattr(throughput.shutil, "which", lambda name: None)

    with pytest.raises(throughput.LoadError, match="apt-get install wrk"):
        throughput.wrk_phase("http://127.0.0.1:9", "c=1", ["/"], {}, 1, 1)
