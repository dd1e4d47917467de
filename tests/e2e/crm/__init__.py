"""Helpers for the CRM plugin's end-to-end test (``tests/e2e/test_crm_plugin.py``).

- ``CrmServer``: ``examples/crm_server.py`` as a subprocess on a free loopback port, with a
  bearer token and a lifetime; ``pause()``/``resume()`` freeze and thaw it (SIGSTOP/SIGCONT:
  the kernel still accepts connections, nobody answers, so clients really time out).
- ``spoken``: a phrase rendered by espeak-ng and sox the way the PBX's TTS renders it (same
  voice and speed), independently of the PBX's cache, to search for in what a caller heard.
- ``heard``: the PCMU audio a Python UAC caller (tests/e2e/acd/callers.py) received, decoded.
"""

from .audio import heard, spoken
from .server import CrmServer

__all__ = ["CrmServer", "heard", "spoken"]
