"""`make prompts` renders every listed prompt as 8 kHz mono 16-bit PCM WAV, plus music on hold."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import pytest

from .harness import require_binary

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_render_script_makes_8khz_mono_pcm_prompts(tmp_path):
    require_binary("espeak-ng", "espeak-ng")
    require_binary("sox", "sox")
    listing = ROOT / "examples" / "prompts" / "en.txt"
    names = [line.split("|")[0].strip() for line in listing.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    result = subprocess.run(["bash", str(ROOT / "examples/prompts/render.sh"), str(listing), str(tmp_path)],
                            capture_output=True, text=True, timeout=100)
    assert result.returncode == 0, result.stderr
    for name in [*names, "moh"]:
        with wave.open(str(tmp_path / f"{name}.wav")) as prompt:
            assert (prompt.getframerate(), prompt.getnchannels(), prompt.getsampwidth()) == (8000, 1, 2), name
            assert prompt.getnframes() > 8000 * 0.3, f"{name} is too short"
    with wave.open(str(tmp_path / "moh.wav")) as moh:
        assert moh.getnframes() == 80000


def test_rendered_prompts_play_as_20ms_frames(tmp_path):
    from pbx.media.player import FRAME_BYTES, Player, PromptCache

    require_binary("espeak-ng", "espeak-ng")
    listing = tmp_path / "list.txt"
    listing.write_text("hello | Hello there.\n")
    subprocess.run(["bash", str(ROOT / "examples/prompts/render.sh"), str(listing), str(tmp_path)], check=True,
                   capture_output=True, timeout=60)
    pcm = PromptCache(tmp_path).get("hello")
    player = Player([pcm])
    frames = list(iter(player.next_frame, None))
    assert len(frames) == -(-len(pcm) // FRAME_BYTES) and b"".join(frames)[: len(pcm)] == pcm
