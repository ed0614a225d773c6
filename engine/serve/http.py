"""uvicorn's HTTP protocol (httptools) with a deadline for each request's head.

uvicorn has none: its keep-alive timer covers only the wait between requests, each byte that arrives resets it,
and a new connection has no timer at all. So a client that sends its head a byte at a time, or opens connections
and sends nothing (Slowloris), holds each connection and its file descriptor for as long as it likes, until the
server can accept no more. Here a head must arrive whole within the server's --timeout of the connection opening
or of the previous answer on a kept-alive connection: else 408 (or, when nothing of a request came, the
connection just closes, as at the end of a keep-alive wait). The body has its own deadline, in the app
(engine/serve/app.py, which reads bodies itself).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LINGER = 2.0  # seconds a connection answered 408 still reads (and drops) what arrives, before it closes


def _timeout_answer(seconds: float) -> bytes:
    """The 408, in the shape of every error the app answers (engine/serve/app.py ApiError)."""
    body = json.dumps({"error": {"status": 408, "code": "timeout",
                                 "message": f"the request head did not arrive within {seconds:g} s",
                                 "hint": "send the request line and headers at once", "errors": []}}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (len(body), body))


class Config(uvicorn.Config):
    """uvicorn's settings and the head's deadline, which the protocol reads from the config it is given (a class
    at module level, so that uvicorn's supervisor can hand it to its worker processes)."""

    def __init__(self, app: Any, *, head_timeout: float, **settings: Any):
        super().__init__(app, http="engine.serve.http:HeadDeadline", **settings)
        self.head_timeout = head_timeout


class HeadDeadline(HttpToolsProtocol):
    _head_timer: asyncio.TimerHandle | None = None
    _head_started = False  # a byte of the awaited request's head has arrived
    _answered_late = False  # 408 sent: what still arrives is dropped

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._answered_late:
            return  # the rest of a head answered 408: read and dropped until the connection closes
        self._head_started = self._head_started or bool(data)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._head_done()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._await_head()  # the next request on this connection, beside uvicorn's keep-alive wait

    def _await_head(self) -> None:
        self._head_done()
        self._head_started = False
        self._head_timer = self.loop.call_later(cast(Config, self.config).head_timeout, self._head_late)

    def _head_done(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not self._head_started:
            self.transport.close()
            return
        # Closing a socket with bytes unread makes the kernel reset the connection, and the client may lose the
        # 408 it was sent: so the answer, then the end of what is sent; what arrives after is read and dropped
        # for a moment (a lingering close, as web servers do), then the connection closes.
        self._answered_late = True
        self.transport.write(_timeout_answer(cast(Config, self.config).head_timeout))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)
