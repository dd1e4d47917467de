"""100 concurrent calls to 601: every stream keeps the 20 ms grid and carries the prompt bit for bit.

A Python caller (``media/uac.py``) places 100 authenticated calls to the playback extension,
each with its SDP pointing at its own socket of a capture process (``media/rtp_capture.py``)
that stamps every packet with the kernel's receive time. Once all calls are up they are held
for the length of the prompt plus a second, then hung up. Then:

- timing, over the span where all 100 play at once: each packet's ``arrival - slot`` on its
  stream's fitted 20 ms grid (``media/timing.py``); p99 of |deviation| over every packet of
  every stream under 5 ms, nothing missing, no socket buffer overflow in the capture;
- RTP timestamps advance 160 per packet (8 kHz, 20 ms), one SSRC per stream;
- audio: each stream's payloads, in sequence order, are exactly the G.711 mu-law encoding of
  playback-test.wav in 20 ms frames (the last one padded with silence), then the start of
  moh.wav, which the PBX loops after the prompt.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from pbx.media.g711 import CODECS, frames
from pbx.media.player import load_wav

from .calls.fixtures import NO_RATE_LIMITS, assert_no_traceback, free_rtp_range, wait_idle
from .harness import LOOPBACK, require_binary
from .media import RtpCapture, Uac, analyse, summarise
from .media.timing import payloads_in_order, unwrap

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CALLS = 100
MOH_FRAMES_CHECKED = 25  # the first half second of music on hold after the prompt


@pytest.fixture
def prompts(tmp_path) -> Path:
    require_binary("espeak-ng", "espeak-ng")
    require_binary("sox", "sox")
    directory = tmp_path / "prompts"
    subprocess.run(["bash", str(ROOT / "examples/prompts/render.sh"), str(ROOT / "examples/prompts/en.txt"),
                    str(directory)], check=True, capture_output=True, timeout=100)
    return directory


@pytest.fixture
def playback_pbx(start_pbx, prompts):
    """A PBX with room for CALLS calls' RTP ports, the prompts above, and 1001 to call from."""
    low, high = free_rtp_range(4 * CALLS + 100)
    pbx = start_pbx(
        extensions={"1001": {"password": "secret1001"}},
        media={"rtp_host": LOOPBACK, "rtp_ports": {"low": low, "high": high}, "prompts": str(prompts)},
        security=NO_RATE_LIMITS,  # a hundred INVITEs at once from 1001 is a flood by the default limits
    )
    yield pbx
    assert_no_traceback(pbx)


def encoded_frames(path: Path) -> list[bytes]:
    """What the PBX should send for a prompt: PCMU of its 20 ms frames, the last one padded."""
    return [CODECS["PCMU"].encode(frame) for frame in frames(load_wav(path))]


async def hold_calls(pbx, capture: RtpCapture, hold: float) -> tuple[list, tuple[int, int]]:
    uac = await Uac.open(pbx.sip_address, "1001", "secret1001")
    try:
        calls = []
        for port in capture.ports:  # about 200 call attempts a second, not all at once
            calls.append(asyncio.ensure_future(uac.call("601", port, capture.rtcp_port)))
            await asyncio.sleep(0.005)
        calls = await asyncio.gather(*calls)
        all_up = time.time_ns()
        await asyncio.sleep(hold)
        window = (all_up + 500_000_000, time.time_ns())  # the steady state, past the call setup
        await asyncio.gather(*(uac.hangup(call) for call in calls))
        return calls, window
    finally:
        uac.close()


@pytest.mark.timeout(60)
def test_hundred_playbacks_keep_20ms_and_send_the_prompt_exactly(tmp_path, playback_pbx, prompts):
    prompt = encoded_frames(prompts / "playback-test.wav")
    music = encoded_frames(prompts / "moh.wav")[:MOH_FRAMES_CHECKED]
    hold = 0.020 * (len(prompt) + len(music)) + 1.0

    with RtpCapture(CALLS, tmp_path / "capture", payloads=True, max_seconds=50) as capture:
        calls, window = asyncio.run(hold_calls(playback_pbx, capture, hold))
        failed = [(call.rtp_port, call.error, call.status) for call in calls if not call.answered]
        assert not failed, f"{len(failed)} of {CALLS} calls not answered, e.g. {failed[:5]}"
        assert all(call.bye_status == 200 for call in calls), [call.bye_status for call in calls]
        result = capture.stop()

    assert result.dropped_by_kernel == 0, f"the capture's socket buffers overflowed ({result.dropped_by_kernel})"
    timings = analyse(result, window_ns=window)
    summary = summarise(timings)
    window_slots = (window[1] - window[0]) // 20_000_000
    thin = [timing.stream for timing in timings if timing.expected < window_slots - 2]
    assert not thin, f"streams with packets missing from the measured {window_slots} slots: {thin[:10]}"
    assert summary.missing == 0, summary.describe()
    assert summary.p99_ms < 5.0, f"p99 |arrival - 20 ms slot| at {CALLS} playbacks: {summary.describe()}"
    print(f"\n{CALLS} concurrent playbacks: {summary.describe()}")

    stream = np.frombuffer(result.stream, dtype=np.uint32)
    for index in range(CALLS):
        chosen = np.flatnonzero(stream == index)
        ssrcs = set(np.frombuffer(result.ssrc, dtype=np.uint32)[chosen].tolist())
        assert len(ssrcs) == 1, f"stream {index}: SSRCs {ssrcs}"
        steps = unwrap(np.frombuffer(result.sequence, dtype=np.uint16)[chosen])
        stamps = np.frombuffer(result.timestamp, dtype=np.uint32)[chosen].astype(np.int64)
        assert np.array_equal((stamps - stamps[0]) % 2**32, (160 * steps) % 2**32), (
            f"stream {index}: RTP timestamps do not advance 160 a packet")

    wrong = {}
    expected = prompt + music
    for index in range(CALLS):
        heard = payloads_in_order(result, index)
        if heard[: len(expected)] != expected:
            first = next((n for n, (a, b) in enumerate(zip(heard, expected)) if a != b), min(len(heard), len(expected)))
            wrong[index] = f"frame {first} of {len(expected)} differs ({len(heard)} received)"
    examples = dict(list(wrong.items())[:5])
    assert not wrong, f"{len(wrong)} of {CALLS} streams are not the prompt then music on hold: {examples}"
    wait_idle(playback_pbx, timeout=10)
