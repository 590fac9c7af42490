"""Gunicorn's threaded worker, closing connections without holding up its main thread.

gunicorn's gthread worker closes a connection it does not keep alive "gracefully"
(RFC 9112, section 9.6): it half-closes the socket, then waits on it, up to 2 s, for
the client to close its side, draining what the client still sends, so that request
bytes left unread cannot make the kernel reset the connection before the client has
read the response. It waits on the worker's main thread, the one that accepts
connections and hands requests to the threads: until that client reacts, no other
connection of the worker is accepted, dispatched or closed. On opening day two
thousand phones each send their choice on a connection of its own, and every answer
held up the next (bench/opening.py: the rush took a third longer).

``ThreadWorker`` closes the same way without waiting: it half-closes the socket and
leaves it to the worker's poller, which drains it as data arrives and closes it when
the client closes its side, when the drain cap is reached, or after the same grace
(checked on each turn of the main loop, at least once a second).
scripts/gunicorn.conf.py names it as the worker class.
"""

from __future__ import annotations

import collections
import contextlib
import selectors
import socket
import time
from functools import partial

from gunicorn import util
from gunicorn.workers import gthread

# gunicorn.util.close_graceful's grace and drain cap.
GRACE_SECONDS = 2.0
MAX_DRAIN = 65536


class ThreadWorker(gthread.ThreadWorker):
    def init_process(self) -> None:
        # Sockets half-closed and waiting for their client: drained bytes by socket,
        # and (deadline, socket) in the order they were closed.
        self._draining: dict[socket.socket, int] = {}
        self._deadlines: collections.deque = collections.deque()
        super().init_process()

    def finish_request(self, conn, fs) -> None:
        # gthread ends a connection it does not keep alive with conn.close(graceful=True)
        # on this (the main) thread.
        conn.close = partial(self._close, conn)
        super().finish_request(conn, fs)

    def _close(self, conn, graceful: bool = False) -> None:
        sock = conn.sock
        if not graceful:
            util.close(sock)
            return
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            self.poller.register(sock, selectors.EVENT_READ, self._drain)
        except (OSError, ValueError, KeyError):
            util.close(sock)
            return
        self._draining[sock] = 0
        self._deadlines.append((time.monotonic() + GRACE_SECONDS, sock))

    def _drain(self, sock: socket.socket) -> None:
        """The poller's callback: the client sent more, or closed its side."""
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data and sock in self._draining:
            self._draining[sock] += len(data)
            if self._draining[sock] < MAX_DRAIN:
                return
        self._forget(sock)

    def _forget(self, sock: socket.socket) -> None:
        if self._draining.pop(sock, None) is None:
            return
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(sock)
        util.close(sock)

    def murder_keepalived(self, force: bool = False) -> None:
        super().murder_keepalived(force)
        now = time.monotonic()
        while self._deadlines and (force or self._deadlines[0][0] <= now):
            _deadline, sock = self._deadlines.popleft()
            self._forget(sock)
