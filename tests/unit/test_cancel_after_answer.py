"""A CANCEL that crosses the ACK: the INVITE was answered and acknowledged, and its leg has let go
of the server transaction (issue 16), yet the CANCEL still matches that INVITE: 200, and the call
stays up (RFC 3261 9.2); a CANCEL that matches no INVITE gets 481."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.call_path import CALLER, CallPath, wire  # noqa: E402
from pbx.sip.message import Response  # noqa: E402


def cancel(call_id: str, tag: str, branch: str) -> bytes:
    return wire(["CANCEL sip:1002@127.0.0.1:5060 SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch};rport",
                 "Max-Forwards: 70", f"From: <sip:1001@127.0.0.1>;tag={tag}", "To: <sip:1002@127.0.0.1>",
                 f"Call-ID: {call_id}", "CSeq: 2 CANCEL"])


def test_a_cancel_after_the_ack_gets_200_and_leaves_the_call_up_and_an_unknown_one_481():
    path = CallPath()
    held = path.set_up(7)
    assert len(path.manager.calls) == 1
    [ok] = [m for m in path.receive(cancel(held.call_id, held.tag, f"z9hG4bK-{held.call_id}-2"), CALLER)
            if isinstance(m, Response)]
    assert ok.status == 200
    assert len(path.manager.calls) == 1 and not next(iter(path.manager.calls.values())).legs[0].is_ended
    [unknown] = [m for m in path.receive(cancel("no-such-call", "x", "z9hG4bK-none"), CALLER)
                 if isinstance(m, Response)]
    assert unknown.status == 481
