"""Leg.settle: a call that is up keeps its SDPs as text, and reads them back unchanged (issue 16)."""

import pytest

from pbx.calls.leg import Leg
from pbx.calls.signals import Party
from pbx.sip.sdp import SessionDescription
from tests.unit.test_sdp import (
    AUDIO_VIDEO_OFFER,
    BARESIP_HOLD,
    BARESIP_OFFER,
    OLD_STYLE_HOLD,
    POLYCOM_OFFER,
    PYVOIP_OFFER,
    SIPP_OFFER,
    WEBRTC_OFFER,
    YEALINK_OFFER,
)

REAL_WORLD = [BARESIP_OFFER, BARESIP_HOLD, SIPP_OFFER, PYVOIP_OFFER, POLYCOM_OFFER, YEALINK_OFFER, WEBRTC_OFFER,
              AUDIO_VIDEO_OFFER, OLD_STYLE_HOLD]


def leg() -> Leg:
    return Leg("leg-1", "caller", Party("1001"))


@pytest.mark.parametrize("body", REAL_WORLD)
def test_settled_sdps_read_back_equal_to_what_was_set(body):
    phone = SessionDescription.parse(body)
    ours = SessionDescription.parse(SIPP_OFFER)
    settled = leg()
    settled.phone_sdp, settled.local_sdp = phone, ours
    settled.settle()
    assert settled._phone_sdp is None and settled._local_sdp is None  # text only: what a held call keeps
    assert settled.phone_sdp == phone
    assert settled.local_sdp == ours


def test_a_new_sdp_after_settling_replaces_the_text_and_counts_a_version():
    settled = leg()
    assert settled.phone_sdp is None and settled.phone_sdp_version == 0
    settled.phone_sdp = SessionDescription.parse(BARESIP_OFFER)
    settled.settle()
    renegotiated = SessionDescription.parse(BARESIP_HOLD)
    settled.phone_sdp = renegotiated
    assert settled.phone_sdp is renegotiated and settled._phone_sdp_text is None
    assert settled.phone_sdp_version == 2
    settled.phone_sdp = None
    settled.settle()
    assert settled.phone_sdp is None and settled.phone_sdp_version == 3


@pytest.mark.parametrize(("body", "held"), [(BARESIP_OFFER, False), (BARESIP_HOLD, True), (OLD_STYLE_HOLD, True)])
def test_the_on_hold_flag_follows_the_phone_sdp(body, held):
    settled = leg()
    settled.phone_sdp = SessionDescription.parse(body)
    assert settled.phone_on_hold is held
    settled.settle()
    assert settled.phone_on_hold is held
    settled.phone_sdp = None
    assert settled.phone_on_hold is False


def test_settling_a_leg_without_sdp_keeps_none():
    settled = leg()
    settled.settle()
    assert settled.phone_sdp is None and settled.local_sdp is None
