"""Building responses to requests (RFC 3261 8.2.6) and the standard reason phrases (21)."""

from __future__ import annotations

from .errors import RemoteProtocolError
from .message import Headers, Request, Response
from .uri import NameAddress

REASON_PHRASES = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
    200: "OK", 202: "Accepted",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme",
    420: "Bad Extension", 421: "Extension Required", 423: "Interval Too Brief",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
    483: "Too Many Hops", 484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error", 501: "Not Implemented",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
}  # fmt: skip

# RFC 3261 8.2.6.2: these headers are copied from the request into every response.
_COPIED = ("Via", "From", "Call-ID", "CSeq")


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    server: str | None = None,
    warning: str | None = None,
) -> Response:
    """A response to `request` with Via, From, To, Call-ID and CSeq copied.

    Works on partially parsed requests too (a 400 for a request missing
    Call-ID has no Call-ID). `to_tag` is added to To when the request had
    none and the response is not a 100 (RFC 3261 8.2.6.2). `warning` becomes
    a Warning header with code 399 (RFC 3261 20.43) so the peer's log shows
    what we objected to.
    """
    headers = Headers()
    for name in _COPIED:
        for value in request.headers.lines(name):
            headers.add(name, value)
        if name == "From":
            _copy_to(request, headers, status, to_tag)
    if server:
        headers.add("Server", server)
    if warning:
        headers.add("Warning", '399 pbx "' + warning.replace('"', "'") + '"')
    return Response(status, reason or REASON_PHRASES.get(status, "Unknown"), headers)


def _copy_to(request: Request, headers: Headers, status: int, to_tag: str | None) -> None:
    value = request.headers.get("To")
    if value is None:
        return
    if to_tag and status != 100:
        try:
            to = NameAddress.parse(value)
        except RemoteProtocolError:  # an unreadable To is copied as it came
            headers.add("To", value)
            return
        if to.tag is None:
            value = f"{value};tag={to_tag}"
    headers.add("To", value)
