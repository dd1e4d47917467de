"""SRTP and SRTCP for one call leg (RFC 3711), through libsrtp 2 (the pylibsrtp bindings).

A `SrtpContext` holds two libsrtp sessions: one keyed with the phone's master
key (what it sends us: unprotect) and one with ours (what we send it:
protect). Keys come from SDES a=crypto lines (pbx/sip/sdes.py). A packet that
fails authentication or the replay check (RFC 3711 3.3.2, 3.4) makes
`unprotect` return None; the relay counts and drops it.

It does not negotiate keys or do any crypto of its own; AES and HMAC are libsrtp's.
"""

from __future__ import annotations

import pylibsrtp

__all__ = ["PROFILES", "SrtpContext"]

# RFC 4568 6.2 suite names -> libsrtp profiles. For _32 libsrtp keeps SRTCP's 80-bit tag, as
# RFC 4568 6.2.2 requires.
PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}


class SrtpContext:
    """Protect what goes to the phone with `outbound_key`; unprotect what comes with `inbound_key`.

    Keys are master key || master salt (30 bytes for the AES_CM_128 suites).
    """

    def __init__(self, inbound_suite: str, inbound_key: bytes, outbound_suite: str, outbound_key: bytes) -> None:
        self.inbound_suite = inbound_suite
        self.outbound_suite = outbound_suite
        self._inbound = pylibsrtp.Session(_policy(inbound_suite, inbound_key, pylibsrtp.Policy.SSRC_ANY_INBOUND))
        outbound = _policy(outbound_suite, outbound_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        # The relay forwards what the far phone sends, duplicates included: libsrtp must not refuse
        # to protect a sequence number twice (the phone's replay window drops the copy).
        outbound.allow_repeat_tx = True
        self._outbound = pylibsrtp.Session(outbound)

    def protect(self, packet: bytes, *, rtcp: bool = False) -> bytes | None:
        """The protected packet, or None when libsrtp refuses it (too short to be RTP, say)."""
        try:
            return self._outbound.protect_rtcp(packet) if rtcp else self._outbound.protect(packet)
        except pylibsrtp.Error:
            return None

    def unprotect(self, packet: bytes, *, rtcp: bool = False) -> bytes | None:
        """The plain packet, or None when authentication or the replay check fails."""
        try:
            return self._inbound.unprotect_rtcp(packet) if rtcp else self._inbound.unprotect(packet)
        except pylibsrtp.Error:
            return None


def _policy(suite: str, key: bytes, ssrc_type: int) -> pylibsrtp.Policy:
    profile = PROFILES.get(suite)
    if profile is None:
        raise ValueError(f"no SRTP profile for crypto-suite {suite!r}; known: {', '.join(PROFILES)}")
    return pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=profile)
