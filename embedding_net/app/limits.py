"""Request limits of the web app: body size, content type, concurrent uploads, slow clients.

:class:`RequestGuard` is a plain ASGI middleware in front of the FastAPI app. For every
``POST`` it answers before the endpoint runs:

- 400 for a ``Content-Length`` that is not a number, 413 for a body larger than the limit
  (refused before it is read), 415 for a body that is not ``multipart/form-data``;
- 503 (``Retry-After: 1``) when ``max_uploads`` uploads are already being received or
  processed, so a crowd of uploaders cannot queue unbounded work;
- 408 when the client stops sending its body for ``idle_timeout_s`` seconds or has not
  finished it after ``body_timeout_s`` seconds (a slow "slowloris" upload is cut off; the
  event loop keeps serving every other connection meanwhile).

:func:`header_deadline_protocol` closes a connection that has not sent a complete request
header ``header_timeout_s`` seconds after it opened or after its last answer (uvicorn itself
waits for a header forever).
"""

from __future__ import annotations

import asyncio
import logging

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOADS = 8
DEFAULT_IDLE_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0
DEFAULT_HEADER_TIMEOUT_S = 10.0
# multipart framing on top of the files themselves
FORM_OVERHEAD_BYTES = 64 * 1024


async def send_json(send, status: int, detail: str, headers: dict | None = None) -> None:
    """Answer a plain ASGI request with ``{"detail": detail}`` and ``status``."""
    from starlette.responses import JSONResponse

    response = JSONResponse(status_code=status, content={"detail": detail}, headers=headers)

    async def no_body():  # pragma: no cover - a JSONResponse never reads the request
        return {"type": "http.disconnect"}

    await response({"type": "http"}, no_body, send)


class RequestGuard:
    """ASGI middleware: size, type, concurrency and time limits of uploads (module docstring).

    Args:
        app: the ASGI app to guard.
        max_body_bytes: largest accepted request body (413 above).
        max_uploads: uploads received or processed at once (503 above).
        idle_timeout_s: longest pause between two body chunks (408 after it).
        body_timeout_s: longest time to receive a whole body (408 after it).
    """

    def __init__(
        self,
        app,
        max_body_bytes: int,
        max_uploads: int = DEFAULT_MAX_UPLOADS,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    ):
        for name, value in (
            ("max_body_bytes", max_body_bytes),
            ("max_uploads", max_uploads),
            ("idle_timeout_s", idle_timeout_s),
            ("body_timeout_s", body_timeout_s),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        self.max_uploads = int(max_uploads)
        self.idle_timeout_s = float(idle_timeout_s)
        self.body_timeout_s = float(body_timeout_s)
        self.active_uploads = 0  # only touched on the event loop thread

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        refusal = self._refusal(dict(scope["headers"]))
        if refusal is not None:
            return await send_json(send, *refusal)
        if self.active_uploads >= self.max_uploads:
            return await send_json(
                send,
                503,
                f"the server is busy with {self.max_uploads} uploads: retry in a moment",
                headers={"Retry-After": "1"},
            )
        self.active_uploads += 1
        try:
            await self.app(scope, self._timed(receive), send)
        finally:
            self.active_uploads -= 1

    def _refusal(self, headers: dict) -> tuple[int, str] | None:
        """(status, detail) for a request refused from its headers alone, or None."""
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                return 400, "bad Content-Length header (expected a number of bytes)"
            if size > self.max_body_bytes:
                return 413, (
                    f"the request is {size:,} bytes, larger than the limit of "
                    f"{self.max_body_bytes:,} bytes"
                )
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind != b"multipart/form-data":
            shown = kind.decode("latin-1")[:60] or "none"
            return 415, f"expected a multipart/form-data upload, got content type {shown}"
        return None

    def _timed(self, receive):
        """``receive`` with the body deadlines (HTTPException 408 past them) and size (413)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        received = 0

        async def timed_receive():
            from fastapi import HTTPException

            nonlocal received
            remaining = min(self.idle_timeout_s, deadline - loop.time())
            try:
                if remaining <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), remaining)
            except (TimeoutError, asyncio.TimeoutError):
                logger.warning("upload cut off: the client sent its body too slowly")
                raise HTTPException(408, "the upload arrived too slowly: timed out") from None
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:  # a chunked body has no Content-Length
                raise HTTPException(
                    413, f"the request is larger than the limit of {self.max_body_bytes:,} bytes"
                )
            return message

        return timed_receive


def header_deadline_protocol(header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S):
    """uvicorn's h11 protocol class, closing connections idle without a complete request header.

    A connection is closed when, ``header_timeout_s`` seconds after it opened (or after the
    previous check), no request is in progress and no new one has started.

    Returns:
        a subclass of ``uvicorn.protocols.http.h11_impl.H11Protocol`` for
        ``uvicorn.Config(http=...)``.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    if not header_timeout_s > 0:
        raise ValueError(f"header_timeout_s must be > 0, got {header_timeout_s!r}")

    class HeaderDeadlineH11Protocol(H11Protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self.seen_cycle = None
            self.header_timer = self.loop.call_later(header_timeout_s, self.check_progress)

        def check_progress(self):
            cycle = self.cycle
            busy = cycle is not None and not cycle.response_complete
            if not busy and cycle is self.seen_cycle:  # nothing new for a whole period
                if not self.transport.is_closing():
                    self.transport.close()
                return
            self.seen_cycle = cycle
            self.header_timer = self.loop.call_later(header_timeout_s, self.check_progress)

        def connection_lost(self, exc):
            self.header_timer.cancel()
            super().connection_lost(exc)

    return HeaderDeadlineH11Protocol
