"""Prompt loading (with rate/channel conversion) and frame-by-frame playlists."""

from __future__ import annotations

import struct
import wave

import pytest

from pbx.media.player import FRAME_BYTES, Player, PromptCache, PromptError, load_wav


def write_wav(path, samples, *, rate=8000, channels=1, width=2):
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        if width == 2:
            writer.writeframes(struct.pack(f"<{len(samples)}h", *samples))
        else:
            writer.writeframes(bytes(samples))
    return path


def pcm(samples):
    return struct.pack(f"<{len(samples)}h", *samples)


def test_8khz_mono_is_loaded_unchanged(tmp_path):
    ramp = list(range(-500, 500))
    assert load_wav(write_wav(tmp_path / "a.wav", ramp)) == pcm(ramp)


def test_stereo_16khz_becomes_8khz_mono(tmp_path):
    # Left 1000, right 3000 -> 2000; 16 kHz -> every other sample.
    frames = [1000, 3000] * 320
    loaded = load_wav(write_wav(tmp_path / "s.wav", frames, rate=16000, channels=2))
    assert loaded == pcm([2000] * 160)


def test_8bit_and_missing_files_are_named_in_the_error(tmp_path):
    with pytest.raises(PromptError, match="8-bit samples; prompts must be 16-bit PCM"):
        load_wav(write_wav(tmp_path / "b.wav", [128] * 100, width=1))
    with pytest.raises(PromptError, match="nope.wav: no such prompt file"):
        PromptCache(tmp_path).get("nope")
    (tmp_path / "junk.wav").write_bytes(b"not a wav")
    with pytest.raises(PromptError, match="junk.wav: not a PCM WAV"):
        PromptCache(tmp_path).get("junk")


def test_cache_loads_each_prompt_once(tmp_path):
    write_wav(tmp_path / "hello.wav", [1] * 10)
    cache = PromptCache(tmp_path)
    first = cache.get("hello")
    (tmp_path / "hello.wav").unlink()
    assert cache.get("hello") is first and "hello" in cache


def test_playlist_runs_across_clips_and_pads_the_last_frame():
    one, two = pcm(list(range(100))), pcm(list(range(100, 350)))
    player = Player([one, two])
    frames = []
    while (frame := player.next_frame()) is not None:
        frames.append(frame)
    assert all(len(frame) == FRAME_BYTES for frame in frames)
    assert len(frames) == 3  # 350 samples -> 160 + 160 + 30 padded
    assert b"".join(frames)[: len(one) + len(two)] == one + two
    assert b"".join(frames)[len(one) + len(two) :] == bytes(2 * 130)
    assert player.finished


def test_loop_restarts_and_stop_ends_at_once():
    clip = pcm(list(range(200)))
    player = Player([clip], loop=True)
    played = b"".join(player.next_frame() for _ in range(5))
    assert played == (clip * 4)[: 5 * FRAME_BYTES]
    player.stop()
    assert player.next_frame() is None


def test_empty_playlist_is_finished():
    assert Player([]).next_frame() is None
