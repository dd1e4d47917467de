"""Spoken prompts rendered by the real espeak-ng and sox, cached on disk once per phrase."""

from __future__ import annotations

import asyncio
import wave

import pytest

from pbx.media.player import load_wav
from pbx.media.tts import SpeechError, SpeechRenderer

from .harness import require_binary

pytestmark = pytest.mark.e2e


@pytest.fixture
def renderer(tmp_path) -> SpeechRenderer:
    require_binary("espeak-ng", "espeak-ng")
    require_binary("sox", "sox")
    return SpeechRenderer(tmp_path / "tts")


async def test_renders_8khz_mono_once_per_phrase_and_language(renderer):
    first, second, polish = await asyncio.gather(
        renderer.render("Your balance is 12 dollars", "en"),
        renderer.render("Your balance is 12 dollars", "en"),  # overlapping: one subprocess
        renderer.render("Dzień dobry", "pl"),
    )
    assert first == second and first != polish
    assert renderer.rendered == 2
    with wave.open(str(first)) as reader:
        assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (8000, 1, 2)
        assert 1.0 < reader.getnframes() / 8000 < 4.0
    assert len(load_wav(polish)) > 8000  # at least half a second of speech
    assert await renderer.render("Your balance is 12 dollars", "en") == first
    assert renderer.rendered == 2 and renderer.cached("Dzień dobry", "pl") == polish
    assert not list(first.parent.glob(".*partial*"))


async def test_an_unknown_voice_is_a_clear_error_and_leaves_nothing(renderer):
    with pytest.raises(SpeechError, match="voice 'xx-nonexistent'"):
        await renderer.render("hello", "en", voice="xx-nonexistent")
    assert renderer.cached("hello", "en", voice="xx-nonexistent") is None
