"""End-to-end tests: the real PBX process against real SIP peers (sipp, baresip, pyVoIP, svwar).

Helpers, not tests: ``harness`` (ports, processes, the PBX fixture's engine), ``sipmsg`` (a raw
SIP client with digest), ``sipp_runner``, ``baresip``, ``malformed_corpus`` and the
``pyvoip_register.py`` script.  Scenarios live in ``sipp/``.  See README.md here.
"""
