"""Call scenarios through the PBX with baresip phones (and a sipp callee where baresip cannot).

Each test starts its own PBX (random ``media.rtp_ports`` range, short ``ring_timeout`` where it
matters) and phones registered as 1001-1003.  baresip reports a call that ends before or after
answer as ``CALL_CLOSED`` whose ``param`` is the reason, e.g. ``486 Busy Here`` for a final
response.  Every test ends with the PBX idle (no call, dialog or RTP port left) and, through the
``call_pbx`` fixture, with no Python traceback in its log.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from .calls import audio
from .calls.fixtures import (  # noqa: F401 - fixtures
    call_pbx,
    dial_uri,
    media_counters,
    phones,
    wait_bus_event,
    wait_idle,
)
from .calls.sipp_calls import BUSY, RING_FOREVER, sipp_callee

pytestmark = pytest.mark.e2e


def _established(caller, callee, pbx, number: str = "1002") -> None:
    caller.dial(dial_uri(pbx, number))
    callee.wait_event("CALL_ESTABLISHED", 10)
    caller.wait_event("CALL_ESTABLISHED", 10)


def _status_of(closed: dict) -> str:
    return str(closed.get("param", ""))


# --------------------------------------------------------------------------------------------
# before answer


@pytest.mark.timeout(60)
def test_caller_cancels_while_ringing(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = call_pbx()
    caller = phones("phone1001", "1001", pbx, source=audio.tone_wav(tmp_path / "wav"))
    callee = phones("phone1002", "1002", pbx, answermode="manual")

    caller.dial(dial_uri(pbx, "1002"))
    incoming = callee.wait_event("CALL_INCOMING", 10)
    assert incoming["peeruri"].startswith("sip:1001@"), incoming
    caller.wait_event("CALL_RINGING", 5)  # the callee's 180, relayed
    calls = pbx.api("/api/calls")
    assert [(call["caller"], call["callee"]) for call in calls] == [("1001", "1002")], calls
    time.sleep(0.5)
    caller.hangup()  # CANCEL

    callee_closed = callee.wait_event("CALL_CLOSED", 10)
    caller.wait_event("CALL_CLOSED", 10)
    callee.expect_no_event("CALL_ESTABLISHED", within=0.5)
    ended = wait_bus_event(pbx, "CallEnded", timeout=5)
    assert ended.get("cause") == "cancelled", (ended, callee_closed)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_callee_rejects_with_busy(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = call_pbx()
    caller = phones("phone1001", "1001", pbx, source=audio.tone_wav(tmp_path / "wav"))
    callee = phones("phone1002", "1002", pbx, answermode="manual")

    caller.dial(dial_uri(pbx, "1002"))
    callee.wait_event("CALL_INCOMING", 10)
    callee.hangup()  # baresip rejects a ringing call with 486 Busy Here

    closed = caller.wait_event("CALL_CLOSED", 10)
    assert "486" in _status_of(closed), closed
    ended = wait_bus_event(pbx, "CallEnded", timeout=5)
    assert ended.get("cause") == "busy", ended
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_sipp_callee_busy_is_relayed(tmp_path, ports, call_pbx, phones):  # noqa: F811
    pbx = call_pbx()
    callee = sipp_callee(pbx, ports, tmp_path, "1002")
    callee.start(BUSY, calls=1, timeout=30)
    try:
        caller = phones("phone1001", "1001", pbx, source=audio.tone_wav(tmp_path / "wav"))
        caller.dial(dial_uri(pbx, "1002"))
        closed = caller.wait_event("CALL_CLOSED", 10)
        assert "486" in _status_of(closed), closed
        assert callee.wait() == 0, callee.describe()
        ended = wait_bus_event(pbx, "CallEnded", timeout=5)
        assert ended.get("cause") == "busy" and ended.get("hangup_by") == "callee", ended
        wait_idle(pbx, timeout=5)
    finally:
        callee.unregister()


@pytest.mark.timeout(60)
def test_no_answer_times_out_with_480(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = call_pbx(ring_timeout=3)
    caller = phones("phone1001", "1001", pbx, source=audio.tone_wav(tmp_path / "wav"))
    callee = phones("phone1002", "1002", pbx, answermode="manual")

    started = time.monotonic()
    caller.dial(dial_uri(pbx, "1002"))
    callee.wait_event("CALL_INCOMING", 10)
    closed = caller.wait_event("CALL_CLOSED", 8)
    elapsed = time.monotonic() - started
    assert "480" in _status_of(closed), closed
    assert 2.5 <= elapsed <= 5.5, f"the caller got {_status_of(closed)!r} after {elapsed:.1f}s, ring_timeout is 3s"
    callee.wait_event("CALL_CLOSED", 3)  # the PBX CANCELled the ringing phone
    wait_bus_event(pbx, "CallEnded", timeout=5)
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_no_answer_cancels_a_sipp_callee(tmp_path, ports, call_pbx, phones):  # noqa: F811
    pbx = call_pbx(ring_timeout=2)
    callee = sipp_callee(pbx, ports, tmp_path, "1002")
    callee.start(RING_FOREVER, calls=1, timeout=30)
    try:
        caller = phones("phone1001", "1001", pbx, source=audio.tone_wav(tmp_path / "wav"))
        caller.dial(dial_uri(pbx, "1002"))
        closed = caller.wait_event("CALL_CLOSED", 8)
        assert "480" in _status_of(closed), closed
        # sipp saw CANCEL, answered 200 and 487, and got the ACK
        assert callee.wait() == 0, callee.describe()
        wait_idle(pbx, timeout=5)
    finally:
        callee.unregister()


@pytest.mark.timeout(60)
def test_unknown_number_gets_404(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = call_pbx()
    caller = phones("phone1001", "1001", pbx, source=audio.tone_wav(tmp_path / "wav"))
    caller.dial(dial_uri(pbx, "9999"))
    closed = caller.wait_event("CALL_CLOSED", 10)
    assert "404" in _status_of(closed), closed
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_offline_extension_gets_480(tmp_path, call_pbx, phones):  # noqa: F811
    pbx = call_pbx()
    caller = phones("phone1001", "1001", pbx, source=audio.tone_wav(tmp_path / "wav"))
    caller.dial(dial_uri(pbx, "1004"))  # configured, never registered
    closed = caller.wait_event("CALL_CLOSED", 10)
    assert "480" in _status_of(closed), closed
    wait_idle(pbx, timeout=5)


# --------------------------------------------------------------------------------------------
# after answer


@pytest.mark.timeout(60)
@pytest.mark.parametrize("who", ["caller", "callee"])
def test_hangup_after_answer(tmp_path, call_pbx, phones, who):  # noqa: F811
    pbx = call_pbx()
    caller = phones("phone1001", "1001", pbx, source=audio.speech_wav(tmp_path / "wav", "alpha"))
    callee = phones("phone1002", "1002", pbx, source=audio.speech_wav(tmp_path / "wav", "bravo"))
    _established(caller, callee, pbx)
    time.sleep(1.5)

    hanging_up, other = (caller, callee) if who == "caller" else (callee, caller)
    hanging_up.hangup()
    other.wait_event("CALL_CLOSED", 5)
    hanging_up.wait_event("CALL_CLOSED", 5)
    ended = wait_bus_event(pbx, "CallEnded", timeout=5)
    assert ended.get("hangup_by") == who, ended
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("holder_role", ["caller", "callee"])
def test_hold_and_resume(tmp_path, call_pbx, phones, holder_role):  # noqa: F811
    """One side holds (re-INVITE a=sendonly), then resumes (a=sendrecv); both are relayed end to end.

    baresip 1.0.0 pauses its RTP both ways while holding, so the check is: RTP stops reaching
    the holder during the hold, and flows both ways again after the resume (``audio_debug``
    counters; test_call_harness_selftest shows the same counters on a direct call).
    """
    pbx = call_pbx()
    alpha, bravo = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo"))
    caller = phones("phone1001", "1001", pbx, source=alpha)
    callee = phones("phone1002", "1002", pbx, source=bravo)
    _established(caller, callee, pbx)
    holder, held_party = (caller, callee) if holder_role == "caller" else (callee, caller)
    offers = len(held_party.events("CALL_REMOTE_SDP"))
    time.sleep(3.0)  # the recordings stop at the re-INVITE (baresip quirk): record enough before it

    holder.hold()
    wait_bus_event(pbx, "CallHeld", timeout=5)
    _wait_until(lambda: len(held_party.events("CALL_REMOTE_SDP")) > offers, 5, "the hold re-INVITE, relayed")
    time.sleep(1.0)
    held = media_counters(holder)["received"]
    time.sleep(1.0)
    assert media_counters(holder)["received"] - held < 20, f"{holder.name} still receives RTP while holding"

    holder.resume()
    wait_bus_event(pbx, "CallResumed", timeout=5)
    time.sleep(1.0)
    before = {phone.name: media_counters(phone)["received"] for phone in (caller, callee)}
    time.sleep(2.0)
    after = {phone.name: media_counters(phone)["received"] for phone in (caller, callee)}
    for name, count in before.items():
        assert after[name] - count > 50, f"{name}: RTP does not flow after resume: {before} -> {after}"

    holder.hangup()
    held_party.wait_event("CALL_CLOSED", 5)
    # baresip 1.0.0 drops sndfile from its receive path on a re-INVITE, so only the part of the
    # recording before the hold is there; it must still be the other phone's voice
    audio.assert_heard(caller.sent(), callee.heard(), unrelated=[callee.sent()], what="1002 hears 1001 before hold")
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(60)
def test_call_forks_to_every_contact_and_first_answer_wins(tmp_path, call_pbx, phones):  # noqa: F811
    """1002 is registered from two phones: both ring, the one that answers gets the call, the other a CANCEL."""
    pbx = call_pbx()
    alpha, bravo = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo"))
    caller = phones("phone1001", "1001", pbx, source=alpha)
    desk = phones("desk1002", "1002", pbx, source=bravo, answermode="manual")
    mobile = phones("mobile1002", "1002", pbx, source=bravo, answermode="manual")
    assert len([r for r in pbx.registrations() if r["extension"] == "1002"]) == 2, pbx.registrations()

    caller.dial(dial_uri(pbx, "1002"))
    desk.wait_event("CALL_INCOMING", 10)
    mobile.wait_event("CALL_INCOMING", 10)
    time.sleep(0.5)
    mobile.accept()
    mobile.wait_event("CALL_ESTABLISHED", 10)
    caller.wait_event("CALL_ESTABLISHED", 10)
    desk.wait_event("CALL_CLOSED", 5)  # CANCELled
    desk.expect_no_event("CALL_ESTABLISHED", within=0.5)

    time.sleep(3.0)
    caller.hangup()
    mobile.wait_event("CALL_CLOSED", 5)
    audio.assert_heard(caller.sent(), mobile.heard(), unrelated=[mobile.sent()], what="the answering 1002 hears 1001")
    wait_idle(pbx, timeout=5)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("transferor_role", ["callee", "caller"])
def test_blind_transfer(tmp_path, call_pbx, phones, transferor_role):  # noqa: F811
    """1001 calls 1002; one of them REFERs the other to 1003, who answers and talks to the one left."""
    pbx = call_pbx()
    alpha, bravo, charlie = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo", "charlie"))
    caller = phones("phone1001", "1001", pbx, source=alpha)
    callee = phones("phone1002", "1002", pbx, source=bravo)
    target = phones("phone1003", "1003", pbx, source=charlie)
    _established(caller, callee, pbx)
    transferor, remaining = (callee, caller) if transferor_role == "callee" else (caller, callee)
    time.sleep(1.0)

    transferor.transfer(dial_uri(pbx, "1003"))  # REFER, Refer-To: <sip:1003@pbx>
    established = target.wait_event("CALL_ESTABLISHED", 10)
    remaining_user = remaining.account.user
    assert established["peeruri"].startswith(f"sip:{remaining_user}@"), (remaining_user, established)
    transferor.wait_event("CALL_CLOSED", 10)
    wait_bus_event(pbx, "CallTransferred", timeout=5)
    remaining.expect_no_event("CALL_CLOSED", within=0.5)

    time.sleep(1.0)
    low, high = pbx.rtp_range
    before = {phone.name: media_counters(phone) for phone in (remaining, target)}
    time.sleep(3.0)
    after = {phone.name: media_counters(phone) for phone in (remaining, target)}
    for name in before:
        assert low <= after[name]["remote_port"] <= high, f"{name} does not send RTP to the PBX: {after[name]}"
        received = after[name]["received"] - before[name]["received"]
        assert received > 80, f"{name}: no RTP after the transfer: {before} -> {after}"

    remaining.hangup()
    target.wait_event("CALL_CLOSED", 5)
    remaining.wait_event("CALL_CLOSED", 5)
    # 1003 joined late: its recording lines up with the end of what the remaining phone sent
    audio.assert_heard(
        remaining.sent(), target.heard(), unrelated=[target.sent(), transferor.sent()],
        what=f"1003 hears {remaining_user}", align="end",
    )  # fmt: skip
    wait_idle(pbx, timeout=5)


def _wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@pytest.mark.timeout(90)
def test_attended_transfer_with_replaces(tmp_path, call_pbx, phones):  # noqa: F811
    """1001 calls 1002; 1002 calls 1003 on a second line, then REFERs 1001 to 1003 with Replaces
    naming its 1002->1003 dialog (RFC 3891); 1001 and 1003 end up talking, 1002 drops out.

    baresip 1.0.0 has no attended-transfer command, but its ``transfer`` puts the parameter
    verbatim into ``Refer-To:``, so the test builds ``<sip:1003@pbx?Replaces=...>`` itself from
    the Call-ID and tags in 1002's SIP trace.
    """
    pbx = call_pbx()
    alpha, bravo, charlie = (audio.speech_wav(tmp_path / "wav", name) for name in ("alpha", "bravo", "charlie"))
    caller = phones("phone1001", "1001", pbx, source=alpha)
    transferor = phones("phone1002", "1002", pbx, source=bravo)
    target = phones("phone1003", "1003", pbx, source=charlie)
    _established(caller, transferor, pbx)
    time.sleep(0.5)

    transferor.dial(dial_uri(pbx, "1003"))  # the consultation call, on line 2
    target.wait_event("CALL_ESTABLISHED", 10)
    consultation = transferor.wait_event("CALL_ESTABLISHED", 10)
    call_id, local_tag, remote_tag = transferor.dialog_ids(consultation["id"])
    time.sleep(0.5)
    lines = transferor.list_calls()
    transferor.command("line", "1")  # back to the call with 1001: REFER goes in that dialog
    replaces = quote(f"{call_id};to-tag={remote_tag};from-tag={local_tag}", safe="")
    host, port = pbx.sip_address
    transferor.transfer(f"<sip:1003@{host}:{port}?Replaces={replaces}>")

    wait_bus_event(pbx, "CallTransferred", timeout=10)
    transferor.wait_event("CALL_CLOSED", 10)
    transferor.wait_event("CALL_CLOSED", 10)
    caller.expect_no_event("CALL_CLOSED", within=0.5)
    target.expect_no_event("CALL_CLOSED", within=0.1)

    time.sleep(1.0)
    low, high = pbx.rtp_range
    before = {phone.name: media_counters(phone) for phone in (caller, target)}
    time.sleep(3.0)
    after = {phone.name: media_counters(phone) for phone in (caller, target)}
    for name in before:
        assert low <= after[name]["remote_port"] <= high, f"{name} does not send RTP to the PBX: {after[name]}"
        received = after[name]["received"] - before[name]["received"]
        assert received > 80, f"{name}: no RTP after the transfer: {before} -> {after}\nlines before REFER: {lines}"
    calls = pbx.api("/api/calls")
    assert len(calls) == 1, calls

    caller.hangup()
    target.wait_event("CALL_CLOSED", 5)
    caller.wait_event("CALL_CLOSED", 5)
    wait_idle(pbx, timeout=5)
