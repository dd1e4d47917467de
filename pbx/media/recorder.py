"""Recording one call: taps on its relay endpoints, a tick on the media clock, a WAV file in the writer thread.

`CallRecorder` is the asyncio-side adapter around `RecordingMixer`: what
the caller's phone sends to the caller's relay endpoint is the left
channel, what the callee's phone sends is the right one. For a leg the PBX
answers itself (IVR, services) there is no callee endpoint; the session
that plays prompts passes each frame it sends to `feed_sent`, so the right
channel holds what the caller heard. Every 20 ms the media clock asks the
mixer for one frame and appends it to the file; the disk is the writer
thread's business (wav_writer.py).

The relay endpoints and the media clock must share one time base (the
composition root gives both the same clock): the jitter buffers compare
arrival times with tick times.

It does not decide when to record (that is the call controller's, or a
plugin's) or where files go beyond the path it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .clock import MediaClock
from .recording import STATIC_CODECS, Channel, Layout, RecordingMixer, RecordingStats
from .relay import RelayEndpoint
from .wav_writer import RecordingFile, WavWriter

log = logging.getLogger("pbx.media.recorder")


class _Tapped(Protocol):
    def add_tap(self, callback: Callable[[bytes, float], None], *, rtcp: bool = False) -> Callable[[], None]: ...


@dataclass(frozen=True, slots=True)
class RecordingSummary:
    """What `CallRecorder.stop` leaves: where the file is and how much it holds."""

    path: Path
    layout: Layout
    seconds: float  # length of the file, paused stretches (silence) included
    paused_seconds: float
    bytes_written: int  # audio bytes, without the 44-byte WAV header
    failed: bool  # the disk had refused by then (the thread may still report it later: `file.failed`)


class CallRecorder:
    def __init__(
        self,
        caller: RelayEndpoint | _Tapped,
        callee: RelayEndpoint | _Tapped | None,
        *,
        media_clock: MediaClock,
        writer: WavWriter,
        path: str | Path,
        layout: Layout = "stereo",
        caller_codecs: Mapping[int, str] = STATIC_CODECS,
        callee_codecs: Mapping[int, str] = STATIC_CODECS,
    ) -> None:
        self.caller = caller
        self.callee = callee
        self.media_clock = media_clock
        self.writer = writer
        self.path = Path(path)
        self.mixer = RecordingMixer(layout, caller_codecs=caller_codecs, callee_codecs=callee_codecs)
        self.file: RecordingFile | None = None
        self.summary: RecordingSummary | None = None
        self._untaps: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<CallRecorder {self.path} {self.mixer.layout} {self.mixer.state}>"

    @property
    def layout(self) -> Layout:
        return self.mixer.layout

    @property
    def stats(self) -> RecordingStats:
        return self.mixer.stats

    @property
    def is_recording(self) -> bool:
        return self.file is not None and self.summary is None

    def start(self) -> None:
        """Tap both legs, open the file and join the media clock; raises EndpointClosed for a closed leg."""
        if self.file is not None:
            raise ValueError(f"{self!r} was already started")
        # Tap first: a closed endpoint raises EndpointClosed before any file exists.
        try:
            self._untaps.append(self.caller.add_tap(self._tap("caller")))
            if self.callee is not None:
                self._untaps.append(self.callee.add_tap(self._tap("callee")))
        except Exception:
            for untap in self._untaps:
                untap()
            self._untaps.clear()
            raise
        self.file = self.writer.open(self.path, self.mixer.channels)
        self.media_clock.add(self)
        log.info("event=recording_started path=%s layout=%s", self.path, self.mixer.layout)

    def pause(self) -> None:
        """Silence from now on, until `resume`; raises ValueError when not recording."""
        self._check_started("pause")
        self.mixer.pause(self.media_clock.clock())

    def resume(self) -> None:
        """Record again; raises ValueError (naming the state) when not paused."""
        self._check_started("resume")
        self.mixer.resume(self.media_clock.clock())

    def attach(self, channel: Channel, endpoint: RelayEndpoint | _Tapped, codecs: Mapping[int, str]) -> None:
        """Record what a (new) leg's phone sends on ``channel`` from now on: the agent or extension
        an IVR connects the caller to, after the PBX's own prompts filled that channel."""
        self._check_started("attach to")
        self.mixer.set_codecs(channel, codecs)
        self._untaps.append(endpoint.add_tap(self._tap(channel)))

    def set_codecs(self, channel: Channel, codecs: Mapping[int, str]) -> None:
        """A new payload type map for one leg (after a re-INVITE)."""
        self.mixer.set_codecs(channel, codecs)

    def feed_sent(self, channel: Channel, pcm_frame: bytes) -> None:
        """One 20 ms frame of 8 kHz PCM16 that the PBX itself sends on ``channel`` (a prompt).

        Call it from the session's own tick, once per frame sent; ignored unless recording.
        """
        if self.is_recording:
            self.mixer.feed_pcm(channel, pcm_frame, self.media_clock.clock())

    def tick(self, now: float) -> None:
        """The media clock's 20 ms: one frame into the file."""
        if self.summary is not None:
            return  # stopped during this very tick of the clock
        frame = self.mixer.tick(now)
        file = self.file
        # Closed under us only at shutdown (`WavWriter.close_all` before `stop`): keep quiet until stopped.
        if file is not None and not file.closed:
            file.write(frame)

    def stop(self) -> RecordingSummary:
        """Untap, leave the clock, close the file. Idempotent, and fine after an endpoint closed."""
        if self.summary is not None:
            return self.summary
        for untap in self._untaps:
            untap()  # only forgets the callback: safe on a closed endpoint
        self._untaps.clear()
        self.media_clock.remove(self)
        if self.mixer.state != "stopped":
            self.mixer.stop(self.media_clock.clock())
        bytes_written, failed = 0, False
        if self.file is not None:
            self.file.close()
            bytes_written, failed = self.file.bytes_written, self.file.failed
        stats = self.mixer.stats
        self.summary = RecordingSummary(
            path=self.path,
            layout=self.mixer.layout,
            seconds=stats.seconds,
            paused_seconds=stats.paused_seconds,
            bytes_written=bytes_written,
            failed=failed,
        )
        log.info("event=recording_stopped path=%s seconds=%.2f paused_seconds=%.2f bytes=%d",
                 self.path, self.summary.seconds, self.summary.paused_seconds, bytes_written)
        return self.summary

    def _tap(self, channel: Channel) -> Callable[[bytes, float], None]:
        receive = self.mixer.receive

        def tap(data: bytes, now: float) -> None:
            receive(channel, data, now)

        return tap

    def _check_started(self, what: str) -> None:
        if self.file is None:
            raise ValueError(f"cannot {what} {self!r}: it was never started")
        if self.summary is not None:
            raise ValueError(f"cannot {what} {self!r}: it was stopped")

