"""The bridge controller with fake legs and fake services: routing, forking, teardown, hold, transfer."""

from __future__ import annotations

import pytest

from pbx.calls.bridge import BridgeController
from pbx.calls.call import Call, CallState
from pbx.calls.leg import Leg, LegState
from pbx.calls.router import Route
from pbx.calls.signals import (
    Answer, Cause, Hangup, Info, Party, Ringing, Transfer, Try, Update, UpdateAnswer,
)
from pbx.sip.sdp import SessionDescription
from sdk.events import CallAnswered, CallEnded, CallHeld, CallResumed, CallRinging, CallTransferred


def sdp(direction: str = "sendrecv", port: int = 4000, formats: str = "0 101") -> SessionDescription:
    text = (
        f"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP {formats}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        f"a=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
    )
    return SessionDescription.parse(text)


class FakeLeg(Leg):
    def __init__(self, leg_id: str, role: str, number: str) -> None:
        super().__init__(leg_id, role, Party(number))
        self.sent: list = []
        self.notifications: list[int] = []
        self.media = object()

    def send(self, signal, now):
        self.sent.append(signal)
        if isinstance(signal, Hangup):
            self.state = LegState.ENDED
        elif isinstance(signal, Answer):
            self.state = LegState.ANSWERED
        return []

    def notify_transfer(self, status, reason, now):
        self.notifications.append(status)
        return []

    def kinds(self):
        return [type(signal).__name__ for signal in self.sent]


class FakeServices:
    def __init__(self, routes: dict[str, int | list[str]]) -> None:
        self.routes = routes
        self.events: list = []
        self.bridged: list[tuple[str, str]] = []
        self.originated: list[FakeLeg] = []
        self.only: list | None = None
        self.ring_timer = False
        self.ended: list[Call] = []

    def route(self, number, now):
        found = self.routes.get(number, 404)
        if isinstance(found, int):
            return Route(number, status=found, reason="nope")
        return Route(number, contacts=found)  # contacts are only counted by the fake

    def originate(self, call, route, caller, sdp, now, only=None):
        self.only = only
        for index, _ in enumerate(route.contacts):
            leg = FakeLeg(f"{route.number}-{index}", "callee", route.number)
            leg.state = LegState.CALLING
            call.add_leg(leg)
            self.originated.append(leg)
        return []

    def bridge(self, a, b):
        self.bridged.append((a.id, b.id))

    def start_ring_timer(self, call, now):
        self.ring_timer = True

    def stop_ring_timer(self, call):
        self.ring_timer = False

    def end_call(self, call, cause, status, hangup_by, now):
        self.ended.append(call)
        self.events += call.end(cause, status, hangup_by, now)
        return []

    def publish(self, event):
        self.events.append(event)
        return None

    def find_leg(self, call_id, tags):
        return None

    def adopt(self, call, leg):
        call.add_leg(leg)


def start(routes, callee="1002"):
    services = FakeServices(routes)
    controller = BridgeController(services)
    call = Call("c1", Party("1001"), callee, controller, now=100.0)
    caller = FakeLeg("a", "caller", "1001")
    caller.state = LegState.CALLING
    call.add_leg(caller)
    call.on_signal(caller, Try(Party("1001"), callee, sdp()), 100.0)
    return services, call, caller


def ended(services) -> CallEnded:
    [event] = [e for e in services.events if isinstance(e, CallEnded)]
    return event


def test_unknown_number_is_refused_with_404_and_the_call_ends():
    services, call, caller = start({})
    assert caller.sent == [Hangup(Cause.NOT_FOUND, 404, "nope")]
    assert call.state is CallState.ENDED and ended(services).cause == "not_found"


def test_offline_extension_is_480():
    services, call, caller = start({"1002": 480})
    assert caller.sent[0].status == 480 and ended(services).cause == "unavailable"


def test_all_contacts_ring_and_first_answer_wins():
    services, call, caller = start({"1002": ["desk", "soft"]})
    desk, soft = services.originated
    assert services.ring_timer
    call.on_signal(desk, Ringing(), 101.0)
    call.on_signal(soft, Ringing(), 101.5)
    assert caller.kinds() == ["Ringing", "Ringing"]
    assert [type(e) for e in services.events] == [CallRinging]
    call.on_signal(soft, Answer(sdp(port=5000)), 103.0)
    assert desk.sent == [Hangup(Cause.CANCELLED, reason="answered elsewhere")]
    assert caller.sent[-1] == Answer(sdp(port=5000))
    assert services.bridged == [("a", "1002-1")]
    assert not services.ring_timer
    answered = services.events[-1]
    assert isinstance(answered, CallAnswered) and answered.ring_seconds == 2.0 and answered.codec == "PCMU"


def test_late_second_answer_is_hung_up():
    services, call, caller = start({"1002": ["desk", "soft"]})
    desk, soft = services.originated
    call.on_signal(desk, Answer(sdp()), 101.0)
    call.on_signal(soft, Answer(sdp()), 101.1)
    assert soft.sent[-1].cause in (Cause.NORMAL, Cause.CANCELLED)


def test_busy_wins_over_unavailable_when_every_contact_refuses():
    services, call, caller = start({"1002": ["desk", "soft"]})
    desk, soft = services.originated
    desk.state = LegState.ENDED
    call.on_signal(desk, Hangup(Cause.UNAVAILABLE, 480), 101.0)
    soft.state = LegState.ENDED
    call.on_signal(soft, Hangup(Cause.BUSY, 486), 101.0)
    assert caller.sent == [Hangup(Cause.BUSY, 486, None)]
    assert ended(services).cause == "busy" and ended(services).hangup_by == "callee"


def test_one_refusal_waits_for_the_other_contacts():
    services, call, caller = start({"1002": ["desk", "soft"]})
    desk, _ = services.originated
    desk.state = LegState.ENDED
    call.on_signal(desk, Hangup(Cause.BUSY, 486), 101.0)
    assert caller.sent == [] and call.state is not CallState.ENDED


def test_ring_timeout_cancels_contacts_and_gives_the_caller_480():
    services, call, caller = start({"1002": ["desk"]})
    [desk] = services.originated
    call.controller.on_ring_timeout(call, 130.0)
    assert desk.sent == [Hangup(Cause.NO_ANSWER)]
    assert caller.sent == [Hangup(Cause.NO_ANSWER, 480, "no answer")]
    event = ended(services)
    assert (event.cause, event.hangup_by, event.answered, event.total_seconds) == ("no_answer", "system", False, 30.0)


def test_caller_cancel_while_ringing_cancels_the_contacts():
    services, call, caller = start({"1002": ["desk"]})
    [desk] = services.originated
    caller.state = LegState.ENDED
    call.on_signal(caller, Hangup(Cause.CANCELLED, 487), 104.0)
    assert desk.sent == [Hangup(Cause.CANCELLED)]
    assert (ended(services).cause, ended(services).hangup_by) == ("cancelled", "caller")


def answered_call(routes=None):
    services, call, caller = start(routes or {"1002": ["desk"], "1003": ["phone"], "1004": 486})
    [desk] = services.originated
    call.on_signal(desk, Ringing(), 101.0)
    desk.state = LegState.ANSWERED  # a real leg marks itself answered before it reports Answer
    call.on_signal(desk, Answer(sdp(port=5000)), 102.0)
    desk.phone_sdp = sdp(port=5000)
    caller.phone_sdp = sdp()
    services.originated.clear()
    return services, call, caller, desk


@pytest.mark.parametrize("who", ["caller", "callee"])
def test_hangup_after_answer_ends_both_sides(who):
    services, call, caller, desk = answered_call()
    leaving, staying = (caller, desk) if who == "caller" else (desk, caller)
    leaving.state = LegState.ENDED
    call.on_signal(leaving, Hangup(Cause.NORMAL, 200), 112.0)
    assert staying.sent[-1] == Hangup(Cause.NORMAL)
    event = ended(services)
    assert (event.cause, event.hangup_by, event.talk_seconds, event.ring_seconds) == ("normal", who, 10.0, 1.0)


def test_hold_and_resume_are_relayed_and_published():
    services, call, caller, desk = answered_call()
    call.on_signal(caller, Update(sdp("sendonly")), 105.0)
    assert desk.sent[-1] == Update(sdp("sendonly"))
    call.on_signal(desk, UpdateAnswer(sdp("recvonly", port=5000)), 105.1)
    assert caller.sent[-1] == UpdateAnswer(sdp("recvonly", port=5000))
    call.on_signal(caller, Update(sdp("sendrecv")), 108.0)
    held, resumed = [e for e in services.events if isinstance(e, (CallHeld, CallResumed))]
    assert (type(held), held.by, type(resumed), resumed.by) == (CallHeld, "1001", CallResumed, "1001")


def test_info_goes_to_the_other_party():
    services, call, caller, desk = answered_call()
    call.on_signal(caller, Info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"), 105.0)
    assert desk.sent[-1] == Info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n")


def test_blind_transfer_connects_transferee_to_target_with_the_same_codec():
    services, call, caller, desk = answered_call()
    call.on_signal(desk, Transfer("1003"), 110.0)
    [target] = services.originated
    assert services.only == ["0", "101"]  # the codec already flowing, and DTMF
    desk.state = LegState.ENDED
    call.on_signal(desk, Hangup(Cause.NORMAL, 200), 110.5)  # the transferor leaves early: not the end
    assert call.state is CallState.ANSWERED and caller.sent[-1] == Answer(sdp(port=5000))
    target.phone_sdp = sdp(port=6000)
    call.on_signal(target, Answer(sdp(port=6000)), 112.0)
    assert services.bridged[-1] == ("a", "1003-0")
    assert desk.notifications == [200]
    [transferred] = [e for e in services.events if isinstance(e, CallTransferred)]
    assert (transferred.kind, transferred.transferor, transferred.transferee, transferred.target) == (
        "blind", "1002", "1001", "1003")
    target.state = LegState.ANSWERED
    call.on_signal(target, Hangup(Cause.NORMAL, 200), 120.0)
    assert caller.sent[-1] == Hangup(Cause.NORMAL)


def test_blind_transfer_to_a_busy_target_reports_failure_and_keeps_the_call():
    services, call, caller, desk = answered_call({"1002": ["desk"], "1004": ["busy"]})
    call.on_signal(desk, Transfer("1004"), 110.0)
    [target] = services.originated
    target.state = LegState.ENDED
    call.on_signal(target, Hangup(Cause.BUSY, 486, "Busy Here"), 111.0)
    assert desk.notifications == [486]
    assert call.state is CallState.ANSWERED


def test_transfer_to_unknown_number_is_refused_in_the_notify():
    services, call, caller, desk = answered_call()
    call.on_signal(desk, Transfer("9999"), 110.0)
    assert desk.notifications == [404] and services.originated == []


def test_attended_transfer_joins_the_two_other_parties():
    """1001 talks to 1002, 1002 calls 1003 (second call), then REFERs 1001 with Replaces of that call."""
    services, call, caller, desk = answered_call()
    second = Call("c2", Party("1002"), "1003", BridgeController(services), now=105.0)
    consulting = FakeLeg("x2", "caller", "1002")
    target = FakeLeg("z", "callee", "1003")
    for leg in (consulting, target):
        leg.state = LegState.ANSWERED
        second.add_leg(leg)
    second.state = CallState.ANSWERED
    target.phone_sdp = sdp(port=6000)
    services.find_leg = lambda call_id, tags: consulting if call_id == "consult-call" else None
    call.on_signal(desk, Transfer("1003", ("consult-call", "to-tag", "from-tag")), 110.0)
    assert services.bridged[-1] == ("a", "z") and target in call.legs
    assert desk.notifications == [200] and desk.sent[-1] == Hangup(Cause.TRANSFERRED)
    assert consulting.sent[-1] == Hangup(Cause.TRANSFERRED) and second.state is CallState.ENDED
    # Both remaining parties are re-offered sendrecv, so neither stays on hold.
    assert isinstance(caller.sent[-1], Update) and b"a=sendrecv" in caller.sent[-1].sdp.serialize()
    assert isinstance(target.sent[-1], Update)
    [transferred] = [e for e in services.events if isinstance(e, CallTransferred)]
    assert (transferred.kind, transferred.transferee, transferred.target) == ("attended", "1001", "1003")


def test_attended_transfer_with_an_unknown_dialog_is_refused():
    services, call, caller, desk = answered_call()
    call.on_signal(desk, Transfer("1003", ("nope", "a", "b")), 110.0)
    assert desk.notifications == [481] and call.state is CallState.ANSWERED
