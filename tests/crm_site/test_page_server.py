"""The page server (scripts/page_server.py): granian serving crm_site.wsgi as
scripts/run.sh starts it, its logs masked, and the process's environment kept out of
each request's environ."""

from __future__ import annotations

import http.client
import io
import json
import logging
import logging.config
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from django.db import connection

from crm_site import wsgi

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "page_server.py"


def test_the_inherited_keys_are_the_processs_not_a_requests_own():
    process = {
        "DATABASE_URL": "postgres://u:secret@db/anju",
        "DJANGO_SECRET_KEY": "k",
        "PATH": "/usr/bin",
        "PATH_INFO": "/",
        "CONTENT_TYPE": "text/plain",
        "HTTP_HOST": "example.com",
    }
    assert set(wsgi.inherited_keys(process)) == {
        "DATABASE_URL",
        "DJANGO_SECRET_KEY",
        "PATH",
    }


def test_a_request_reaches_the_application_without_the_process_environment(
    monkeypatch,
):
    seen: dict = {}

    def application(environ, start_response):
        seen.update(environ)
        return [b""]

    monkeypatch.setattr(wsgi, "lanes_application", application)
    # What granian passes: its process's environment, the request's keys over it.
    environ = {
        **os.environ,
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/customers/",
        "QUERY_STRING": "q=1",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.input": io.BytesIO(),
    }
    wsgi.application(environ, lambda *args: None)
    assert "PATH" in wsgi._INHERITED
    assert not set(wsgi._INHERITED) & set(seen)
    assert seen["PATH_INFO"] == "/customers/" and seen["HTTP_HOST"] == "127.0.0.1"
    assert seen["QUERY_STRING"] == "q=1" and "wsgi.input" in seen


def test_a_process_variable_named_as_a_header_stays_out_unless_the_request_sent_it(
    monkeypatch,
):
    seen: list[dict] = []

    def application(environ, start_response):
        seen.append(dict(environ))
        return [b""]

    proxy = "http://user:secret@proxy.intranet:3128"
    monkeypatch.setattr(wsgi, "lanes_application", application)
    monkeypatch.setattr(wsgi, "_INHERITED_HEADERS", {"HTTP_PROXY": proxy})
    base = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.input": io.BytesIO()}
    assert wsgi.inherited_headers({"HTTP_PROXY": proxy, "PATH": "/bin"}) == {
        "HTTP_PROXY": proxy
    }

    wsgi.application({**base, "HTTP_PROXY": proxy}, lambda *args: None)
    wsgi.application({**base, "HTTP_PROXY": "sent"}, lambda *args: None)

    assert "HTTP_PROXY" not in seen[0]  # the process's, granian passed it on
    assert seen[1]["HTTP_PROXY"] == "sent"  # the request's own Proxy header


def test_the_servers_logs_pass_through_the_masking_filter(capsys):
    page_server = runpy.run_path(str(SCRIPT))
    args = page_server["parse_args"](["--bind", "127.0.0.1:8000", "--threads", "7"])
    server = page_server["server"](args)
    assert server.blocking_threads == 7 and server.backpressure == 7
    assert server.log_access and server.respawn_failed_workers
    try:
        logging.config.dictConfig(server.log_config)
        logging.getLogger("granian.access").info(
            '127.0.0.1 "GET /service/survey/eyJ0IjoxfQ:1uQ2xY:AbCdEfGhIjKlMnOpQrStUvWx/'
            ' HTTP/1.1" 200 3.1 ms for 13800138000'
        )
    finally:
        for name in ("_granian", "granian.access"):
            logging.getLogger(name).handlers.clear()
    line = capsys.readouterr().out
    assert "AbCdEfGhIjKlMnOpQrStUvWx" not in line and "13800138000" not in line
    assert "/service/survey/" in line and "138****8000" in line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        conn.close()


@pytest.mark.django_db
def test_the_page_server_serves_the_application_and_logs_each_request(tmp_path):
    port = _free_port()
    log = tmp_path / "server.log"
    db = connection.settings_dict
    host = urllib.parse.quote(db["HOST"] or "127.0.0.1", safe="")
    user = urllib.parse.quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        user += ":" + urllib.parse.quote(db["PASSWORD"], safe="")
    env = {
        **os.environ,
        # The test database (DATABASE_URL names the one it was made from).
        "DATABASE_URL": f"postgres://{user}@{host}:{db['PORT'] or 5432}/{db['NAME']}",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECURE_HTTPS": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    command = [sys.executable, str(SCRIPT), "--bind", f"127.0.0.1:{port}"]
    with log.open("w") as out:
        server = subprocess.Popen(
            [*command, "--workers", "1", "--threads", "4"],
            cwd=tmp_path,  # the launcher finds the project by itself
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        # The health check answers as JSON whatever it finds (200 or 503), through
        # Django's middleware: its security headers are on the answer.
        status, headers, body = _get(port, "/health/?format=json")
        assert status in (200, 503), log.read_text()
        assert "database" in json.loads(body)["components"]
        assert headers.get("x-content-type-options") == "nosniff"
        assert "content-security-policy" in headers
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    text = log.read_text()
    assert f'"GET /health/ HTTP/1.1" {status}' in text
    assert "Traceback" not in text


def test_a_whole_answer_goes_to_the_server_as_one_piece_and_is_closed(monkeypatch):
    from django.core.signals import request_finished
    from django.db import close_old_connections
    from django.http import HttpResponse, StreamingHttpResponse

    finished = []

    def on_finished(**kwargs):
        finished.append(True)

    answers = [HttpResponse(b"<p>page</p>"), StreamingHttpResponse(iter([b"a", b"b"]))]
    monkeypatch.setattr(wsgi, "lanes_application", lambda e, s: answers.pop(0))
    # As Django's test client does: the test's database connection stays as it is.
    request_finished.disconnect(close_old_connections)
    request_finished.connect(on_finished)
    try:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}
        assert wsgi.application(dict(environ), lambda *a: None) == [b"<p>page</p>"]
        assert finished == [True]  # closed: connections and caches given back
        streamed = wsgi.application(dict(environ), lambda *a: None)
        # A stream stays one for the server, which closes it when it is done.
        assert isinstance(streamed, StreamingHttpResponse) and finished == [True]
        assert b"".join(streamed) == b"ab"
    finally:
        request_finished.disconnect(on_finished)
        request_finished.connect(close_old_connections)
