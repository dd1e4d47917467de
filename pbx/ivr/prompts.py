"""What an IVR says, as audio: recorded prompts per language, spoken text, digits, numbers, dates.

`PromptLibrary.clips(items)` turns a scenario's prompts into 8 kHz PCM clips for a `Player`:

- a recorded prompt is looked up as <directory>/<language>/<name>.wav, then in the scenario's
  default language, then in the PBX's own prompt directory (`media.prompts`), so a scenario in
  Polish still finds "goodbye" when only the English recording exists;
- spoken text is rendered by espeak-ng once per phrase and cached on disk (tts.py);
- digits use the recorded "digit-N" prompts of the language when they exist, else speech;
- numbers and dates are spoken by espeak-ng in the call's language (it reads "1234" as a number);
  English dates are written out ("Thursday, December 24, 2026") first.

When every clip is at hand the answer is immediate (`clips_now`); otherwise the caller awaits
`clips`, which renders what is missing. A missing recording is logged and skipped, never fatal.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Literal

import msgspec

from pbx.media.player import RATE, PromptError, load_wav
from pbx.media.tts import SpeechError, SpeechRenderer

log = logging.getLogger("pbx.ivr.prompts")

Kind = Literal["file", "speech", "digits", "number", "date", "silence"]
DIGIT_NAMES = {"*": "star", "#": "pound"}


class PromptItem(msgspec.Struct, frozen=True):
    kind: Kind
    text: str = ""  # a prompt name, text to speak, digits, a number or an ISO date
    language: str = "en"
    voice: str | None = None
    seconds: float = 0.0


class PromptLibrary:
    def __init__(self, speech: SpeechRenderer, *, fallback_dir: str | Path | None = None) -> None:
        self.speech = speech
        self.fallback_dir = Path(fallback_dir) if fallback_dir else None
        self._loaded: dict[Path, bytes] = {}

    def clips_now(self, items: list[PromptItem], directory: Path | None, default_language: str) -> list[bytes] | None:
        """The clips, or None when some speech still has to be rendered (then await `clips`)."""
        out: list[bytes] = []
        for item in items:
            for part in self._expand(item, directory):
                if part.kind == "speech":
                    path = self.speech.cached(part.text, part.language, part.voice)
                    if path is None:
                        return None
                    out.append(self._load(path))
                else:
                    out += self._immediate(part, directory, default_language)
        return out

    async def clips(self, items: list[PromptItem], directory: Path | None, default_language: str) -> list[bytes]:
        out: list[bytes] = []
        for item in items:
            for part in self._expand(item, directory):
                if part.kind == "speech":
                    try:
                        out.append(self._load(await self.speech.render(part.text, part.language, part.voice)))
                    except (SpeechError, PromptError) as error:
                        log.warning("event=speech_failed text=%r reason=%r", part.text[:60], str(error))
                else:
                    out += self._immediate(part, directory, default_language)
        return out

    # Internals ----------------------------------------------------------------------------------

    def _expand(self, item: PromptItem, directory: Path | None) -> list[PromptItem]:
        """Digits, numbers and dates as recordings or speech; the rest as they are."""
        if item.kind == "digits":
            parts = []
            for char in item.text:
                name = f"digit-{DIGIT_NAMES.get(char, char)}"
                if self._find(name, item.language, item.language, directory) is not None:
                    parts.append(PromptItem("file", name, item.language))
                elif char.strip():
                    parts.append(PromptItem("speech", char, item.language, item.voice))
            return parts
        if item.kind == "number":
            return [PromptItem("speech", item.text, item.language, item.voice)]
        if item.kind == "date":
            return [PromptItem("speech", spoken_date(item.text, item.language), item.language, item.voice)]
        return [item]

    def _immediate(self, item: PromptItem, directory: Path | None, default_language: str) -> list[bytes]:
        if item.kind == "silence":
            return [bytes(2 * int(item.seconds * RATE))]
        path = self._find(item.text, item.language, default_language, directory)
        if path is None:
            log.warning("event=prompt_missing prompt=%s language=%s", item.text, item.language)
            return []
        try:
            return [self._load(path)]
        except PromptError as error:
            log.warning("event=prompt_unreadable prompt=%s reason=%r", item.text, str(error))
            return []

    def _find(self, name: str, language: str, default_language: str, directory: Path | None) -> Path | None:
        candidates = []
        if directory is not None:
            candidates += [directory / language / f"{name}.wav", directory / default_language / f"{name}.wav"]
        if self.fallback_dir is not None:
            candidates.append(self.fallback_dir / f"{name}.wav")
        return next((path for path in candidates if path.is_file()), None)

    def _load(self, path: Path) -> bytes:
        pcm = self._loaded.get(path)
        if pcm is None:
            pcm = self._loaded[path] = load_wav(path)
        return pcm


def spoken_date(text: str, language: str) -> str:
    """An ISO date as words espeak-ng reads well; other text is spoken as it is."""
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        return text
    if language == "en":
        return f"{day:%A}, {day:%B} {day.day}, {day.year}"
    return f"{day.day}.{day.month}.{day.year}"
