"""Media measurements for the end-to-end tests and benchmarks: what arrives, and when.

- ``rtp_capture.py``: a script run as its own process; it binds N RTP sockets and records
  every packet with the kernel's receive timestamp (SO_TIMESTAMPNS), so the figures do not
  depend on the scheduling of the PBX or of the test process.  ``RtpCapture`` drives it.
- ``timing.py``: pure analysis of a capture: each stream's 20 ms grid, lateness, gaps, and
  the payloads in sequence order.
- ``uac.py``: an asyncio SIP caller for many concurrent calls (INVITE, digest on 401/407, ACK,
  BYE), built on ``tests/e2e/sipmsg.py`` and therefore independent of ``pbx/``; each call's SDP
  points at a socket of the capture.
"""

from .rtp_capture import Capture, RtpCapture
from .timing import StreamTiming, TimingSummary, analyse, summarise
from .uac import CallResult, Uac

__all__ = ["CallResult", "Capture", "RtpCapture", "StreamTiming", "TimingSummary", "Uac", "analyse", "summarise"]
