"""Helpers for the dialer's end-to-end test and benchmark (``tests/e2e/test_dialer.py``,
``benchmarks/bench_dialer.py``).

- ``audio``: the called parties' greetings (a human's "hello?", a machine's long greeting and
  beep) as G.711 RTP pcap files for sipp's ``play_pcap_audio``.
- ``carrier``: the carrier simulator behind the trunk (busy / no answer / human / machine in
  chosen shares) and its per-call log: the truth.
- ``agents``: N sipp agent phones registered from one port, talking a drawn time around an AHT,
  and their per-leg log (talk time, occupancy).
- ``campaign``: the PBX config (trunk, outbound route, queue, dialer campaign), lead files, and
  the PBX's view of each call from its event log (AMD verdict, agent).
"""

from .agents import AgentLeg, SippAgents, read_agent_log
from .audio import Greeting, write_greetings, write_rtp_pcap
from .campaign import PbxAttempt, attempts_seen_by_pbx, dialer_pbx_config
from .carrier import OUTCOMES, Carrier, CarrierCall, Mix, read_carrier_log

__all__ = ["OUTCOMES", "AgentLeg", "Carrier", "CarrierCall", "Greeting", "Mix", "PbxAttempt", "SippAgents",
           "attempts_seen_by_pbx", "dialer_pbx_config", "read_agent_log", "read_carrier_log", "write_greetings",
           "write_rtp_pcap"]
