"""What the live-call IVR tests share.

- ``tones.py``: prompts that are pure tones of distinct frequencies, and telling from received
  audio which prompt was heard, in order (pure, numpy); DTMF tones for in-band digits.
- ``scenarios.py``: the test scenario (a support-line shape in the DSL) and the directories the
  PBX loads it from; a shipped example copied where its prompt path resolves.
- ``caller.py``: an asyncio caller with media on each call (PCMU audio, RFC 4733 or in-band
  keys, kernel receive timestamps) for barge-in timing and many concurrent calls.
"""

from .caller import CallMedia, IvrCaller, open_call
from .scenarios import HOLIDAY_TIME, OPEN_TIME, TONE_LINE, example_dir, ivr_config, tone_line_dir
from .tones import TONES, Heard, heard_segments, names, write_pcm16, write_tone_prompts

__all__ = [
    "HOLIDAY_TIME", "OPEN_TIME", "TONES", "TONE_LINE", "CallMedia", "Heard", "IvrCaller", "example_dir",
    "heard_segments", "ivr_config", "names", "open_call", "tone_line_dir", "write_pcm16", "write_tone_prompts",
]  # fmt: skip
