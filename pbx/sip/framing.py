"""Cutting SIP messages out of a byte stream (RFC 3261 18.3, RFC 5626 4.4.1).

On TCP the header Content-Length is mandatory and says where the body ends.
CRLFs between messages are skipped; a double CRLF is a keep-alive ping that
must be answered with a single CRLF pong. A stream whose framing cannot be
recovered (no Content-Length number, headers too large) is broken: the
adapter closes the connection.
"""

from __future__ import annotations

import re

from .errors import RemoteProtocolError

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024

# RFC 3261 20.14 / 7.3.3: Content-Length, compact form l.
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.I | re.M)


class KeepAlive:
    """A double-CRLF ping; answer with PONG."""

    PONG = b"\r\n"


class StreamFramer:
    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes | KeepAlive]:
        """Append received bytes; return each complete message (and keep-alive pings)."""
        self._buffer += data
        frames: list[bytes | KeepAlive] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return frames
            frames.append(frame)

    def _next_frame(self) -> bytes | KeepAlive | None:
        buffer = self._buffer
        if buffer.startswith(b"\r\n\r\n"):
            del buffer[:4]
            return KeepAlive()
        # RFC 3261 7.5: skip a stray CRLF before a start line, but not one that a "\r" follows:
        # that may be a ping whose second CRLF is still on its way (RFC 5626 4.4.1).
        while buffer.startswith(b"\r\n") and len(buffer) > 2 and buffer[2:3] != b"\r":
            del buffer[:2]
        if buffer in (b"\r\n", b"\r\n\r"):
            return None
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > MAX_HEADER_BYTES:
                raise RemoteProtocolError("header section larger than 64 KiB")
            return None
        head = bytes(buffer[:end])
        match = _CONTENT_LENGTH.search(head)
        length = 0
        if match:
            value = match.group(1).strip()
            # bytes.isdigit() is ASCII-only; the length check keeps int() from refusing 4300+ digits.
            if not value.isdigit() or len(value) > 10:
                raise RemoteProtocolError(f"bad Content-Length {value[:40].decode(errors='replace')!r} on a stream")
            length = int(value)
            if length > MAX_BODY_BYTES:
                raise RemoteProtocolError(f"Content-Length {length} is over the 1 MiB limit")
        total = end + 4 + length
        if len(buffer) < total:
            return None
        frame = bytes(buffer[:total])
        del buffer[:total]
        return frame

    @property
    def pending(self) -> int:
        return len(self._buffer)
