"""A caller that talks and keys a card number in-band, and remembers exactly what it sent.

`TalkingCaller` places calls from the test process (the e2e UAC of tests/e2e/ivr/caller.py on an
asyncio loop in a thread). Its media (`VoiceMedia`) sends 20 ms PCMU frames on a fixed grid:
a voice while `speaking`, faint noise otherwise, with DTMF tones mixed in on request (so a
recording that kept them would hold them). Every audio frame it sends is kept with its wall
clock time (CLOCK_REALTIME, the PBX's clock on this machine), so what reached a recording can
be compared with what was sent, and when.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from ..acd.callers import CallerThread
from ..ivr.caller import CallMedia
from ..ivr.tones import ulaw_decode, ulaw_encode


class VoiceMedia(CallMedia):
    """CallMedia whose audio is `voice` (looped) while speaking, its faint noise otherwise."""

    def use_voice(self, voice: bytes) -> None:
        self.sent_frames: list[tuple[int, bytes]] = []
        self.quiet, self.voice = self.noise, voice
        self.speak(True)

    def speak(self, speaking: bool) -> None:
        self.noise = self.voice if speaking else self.quiet  # the parent loops over `noise`, frame by frame

    def _send(self, data: bytes) -> None:
        if len(data) >= 12 and data[1] & 0x7F == 0:
            self.sent_frames.append((time.time_ns(), data[12:]))
        super()._send(data)

    def sent_audio(self) -> tuple[float, np.ndarray]:
        """(wall time of the first frame in seconds, every audio sample sent since, in order)."""
        if not self.sent_frames:
            return 0.0, np.zeros(0)
        return self.sent_frames[0][0] / 1e9, ulaw_decode(b"".join(payload for _, payload in self.sent_frames))

    def key_seconds(self) -> list[tuple[str, float]]:
        """(digit, wall time in seconds of its first tone frame) for every in-band key sent."""
        return [(digit, ns / 1e9) for digit, how, ns in self.key_times if how == "inband"]


class TalkingCaller(CallerThread):
    """`with TalkingCaller(pbx.sip_address, "1004") as caller: call, media = caller.talk("800", voice)`."""

    def talk(self, number: str, voice: np.ndarray) -> tuple[object, VoiceMedia]:
        async def dial():
            media = VoiceMedia.open()
            media.use_voice(ulaw_encode(voice))
            call = await self.uac.call(number, media.port, timeout=15)
            if not call.answered:
                media.close()
                raise AssertionError(f"call to {number} failed: {call.error}")
            media.start(self.uac.remote_media(call.call_id))
            return call, media

        call, media = self.run(dial())
        self.media[call.call_id] = media
        return call, media

    def set_speaking(self, media: VoiceMedia, speaking: bool) -> None:
        self.loop.call_soon_threadsafe(media.speak, speaking)

    def key_in_band(self, media: VoiceMedia, digits: str, timeout: float = 10.0) -> None:
        """Send `digits` as DTMF tones in the audio (80 ms each, 80 ms apart); returns once sent."""
        self.run(media.press_all_inband(digits, timeout), timeout + 1)

    def wait(self, seconds: float) -> None:
        self.run(asyncio.sleep(seconds), seconds + 1)
