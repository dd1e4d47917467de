"""Spoken prompts from text: espeak-ng renders, sox converts to 8 kHz mono, the disk keeps them.

`SpeechRenderer.render(text, language, voice)` returns the path of a WAV of that text, rendered
once per (text, language, voice, speed) and kept under the cache directory by a hash of those,
so a scenario's TTS costs one espeak-ng run per phrase for the life of the cache, across calls
and restarts. Renders of the same phrase that overlap share one subprocess. Files appear
atomically (written beside, then renamed), so a crash never leaves half a prompt in the cache.

The asyncio adapter around two local programs: no network, no engine in-process. It does not
pick words for numbers or dates (the IVR says what to speak) or play anything (player.py does).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("pbx.media.tts")

# espeak-ng voices for the languages we name by their ISO 639-1 code; others are passed through.
VOICES = {"en": "en-us"}
WORDS_PER_MINUTE = 150
RENDER_TIMEOUT = 20.0


class SpeechError(Exception):
    """The text could not be rendered: the engine is missing, failed, or does not know the voice."""


class SpeechRenderer:
    def __init__(self, cache_dir: str | Path, *, espeak: str = "espeak-ng", sox: str = "sox",
                 speed: int = WORDS_PER_MINUTE) -> None:
        self.cache_dir = Path(cache_dir)
        self.espeak = espeak
        self.sox = sox
        self.speed = speed
        self.rendered = 0  # subprocess runs, for tests and the status page
        self._pending: dict[Path, asyncio.Future[Path]] = {}

    def path_for(self, text: str, language: str, voice: str | None = None) -> Path:
        voice_name = voice or VOICES.get(language, language)
        key = hashlib.sha256(f"{voice_name}\0{self.speed}\0{text}".encode()).hexdigest()[:24]
        return self.cache_dir / language / f"{key}.wav"

    def cached(self, text: str, language: str, voice: str | None = None) -> Path | None:
        path = self.path_for(text, language, voice)
        return path if path.exists() else None

    async def render(self, text: str, language: str, voice: str | None = None) -> Path:
        """The WAV of `text`, rendering it unless the cache has it. Raises SpeechError."""
        path = self.path_for(text, language, voice)
        if path.exists():
            return path
        pending = self._pending.get(path)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._pending[path] = future
        try:
            await self._run(text, voice or VOICES.get(language, language), path)
        except BaseException as error:
            future.set_exception(error if isinstance(error, SpeechError) else SpeechError(str(error)))
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waits
            raise
        else:
            future.set_result(path)
        finally:
            del self._pending[path]
        return path

    async def _run(self, text: str, voice: str, path: Path) -> None:
        for program in (self.espeak, self.sox):
            if shutil.which(program) is None:
                raise SpeechError(f"{program} is not installed (apt-get install espeak-ng sox)")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.stem}.{os.getpid()}.partial.wav")
        espeak = [self.espeak, "-v", voice, "-s", str(self.speed), "--stdout", text]
        sox = [self.sox, "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(partial)]
        read_end, write_end = os.pipe()
        try:
            speaker = await asyncio.create_subprocess_exec(
                *espeak, stdout=write_end, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL)
            os.close(write_end)
            write_end = -1
            converter = await asyncio.create_subprocess_exec(
                *sox, stdin=read_end, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
            os.close(read_end)
            read_end = -1
            try:
                speak_err, convert_err = await asyncio.wait_for(_both_finished(speaker, converter), RENDER_TIMEOUT)
            except (TimeoutError, asyncio.CancelledError) as error:  # too slow, or the PBX is stopping
                for process in (speaker, converter):
                    if process.returncode is None:
                        process.kill()
                if isinstance(error, asyncio.CancelledError):
                    raise
                raise SpeechError(f"rendering {text[:40]!r} took more than {RENDER_TIMEOUT:.0f} s") from None
        finally:
            for end in (read_end, write_end):
                if end >= 0:
                    os.close(end)
        self.rendered += 1
        if speaker.returncode or converter.returncode or not partial.exists() or partial.stat().st_size <= 44:
            partial.unlink(missing_ok=True)
            reason = (speak_err or convert_err or b"no audio").decode(errors="replace").strip().splitlines()
            raise SpeechError(f"espeak-ng voice {voice!r} could not render {text[:40]!r}: "
                              f"{reason[-1] if reason else 'failed'}")
        partial.replace(path)
        log.info("event=speech_rendered voice=%s chars=%d path=%s", voice, len(text), path)


async def _both_finished(speaker: asyncio.subprocess.Process,
                         converter: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """Their stderr once both have exited, one after the other (sox ends after espeak-ng's stdout
    closes; both write only a line or two on stderr). No gather, no communicate(): cancelled at
    shutdown, a gather's future is left holding a CancelledError nobody retrieves, which asyncio
    logs with a traceback."""
    return await _finished(speaker), await _finished(converter)


async def _finished(process: asyncio.subprocess.Process) -> bytes:
    """What the process wrote on stderr, once it has exited."""
    error = await process.stderr.read()
    await process.wait()
    return error
