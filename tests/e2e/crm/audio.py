"""What a caller should hear (a phrase rendered as the PBX's TTS renders it) and what it heard."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import numpy as np

from pbx.media.tts import VOICES, WORDS_PER_MINUTE

from ..calls import audio
from ..harness import require_binary
from ..ivr.tones import FRAME, ulaw_decode


def spoken(directory: Path, text: str, language: str = "en") -> np.ndarray:
    """``text`` through espeak-ng (the PBX's voice for ``language``, at its speed) and sox to
    8 kHz mono: the same engine and settings as pbx/media/tts.py, run here on its own."""
    espeak, sox = require_binary("espeak-ng", "espeak-ng"), require_binary("sox", "sox")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"spoken-{hashlib.sha256(text.encode()).hexdigest()[:12]}.wav"
    rendered = subprocess.run([espeak, "-v", VOICES.get(language, language), "-s", str(WORDS_PER_MINUTE), "--stdout",
                               text], check=True, capture_output=True, timeout=30).stdout
    subprocess.run([sox, "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(path)],
                   input=rendered, check=True, capture_output=True, timeout=30)
    return audio.read_wav(path)


def heard(caller, call) -> np.ndarray:
    """The PCMU audio ``call`` of a ``CallerThread`` has received so far, in arrival order."""
    received = caller.media[call.call_id].received
    frames = [payload for payload, kind in zip(list(received.payloads), list(received.payload_type), strict=False)
              if kind == 0 and len(payload) == FRAME]
    return ulaw_decode(b"".join(frames)) if frames else np.zeros(0)
