"""Structured logging: `key=value` lines (or JSON objects) on stderr.

Log calls write `event=<name> key=value ...` messages; this module only adds
the timestamp, level and logger, and in JSON mode wraps the line in an
object. `--sip-trace` turns on the `pbx.sip.trace` logger, which prints
every SIP message sent and received.
"""

from __future__ import annotations

import json
import logging
import sys
import time


class _TextFormatter(logging.Formatter):
    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = "" if worker is None else f" worker={worker}"

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"{stamp} level={record.levelname.lower()} logger={record.name}{self.worker} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _JsonFormatter(logging.Formatter):
    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.worker is not None:
            entry["worker"] = self.worker
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str = "info", fmt: str = "text", *, sip_trace: bool = False,
                      worker: int | None = None) -> None:
    """`worker`: this process's index among `pbx run --workers N`, on every line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(worker) if fmt == "json" else _TextFormatter(worker))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("pbx.sip.trace").setLevel(logging.INFO if sip_trace else logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(_malformed_http_in_one_line)


def _malformed_http_in_one_line(record: logging.LogRecord) -> bool:
    """aiohttp answers a malformed HTTP request to the admin port with a 400 and logs it with a
    traceback; it is the client's fault, so one warning line with the reason says it all."""
    error = record.exc_info[1] if record.exc_info else None
    if error is not None and type(error).__module__ == "aiohttp.http_exceptions":
        record.msg = "event=admin_http_malformed reason=%r"
        record.args = (" ".join(str(error).split()),)
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True
