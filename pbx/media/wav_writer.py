"""Recordings to disk, off the event loop: one background thread writes every WAV file of the process.

`WavWriter.open(path, channels)` gives a `RecordingFile` at once; its
`write(pcm)` only appends to a buffer in memory and, every second of audio
or so, hands the chunk to the writer thread through a `queue.SimpleQueue`.
So the event loop never waits for a disk: per 20 ms frame it copies a few
hundred bytes. The thread creates directories, writes with the stdlib
`wave` module and, on `close()`, finalises the RIFF header (the frame count
is only known at the end).

A disk error (full, read-only, no permission) is logged once per file and
counted, and that file's later audio is discarded; it never reaches the
caller, since a failed recording must not fail the call. Hundreds of files
may be open at once: each holds one file descriptor in the thread.

It does not encode anything but PCM16, rotate or upload files, or bound the
memory of a disk slower than the audio (the queue grows; `pending_bytes`
shows it).
"""

from __future__ import annotations

import logging
import queue
import threading
import wave
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("pbx.media.wav_writer")

SAMPLE_WIDTH = 2  # PCM16
CHUNK_SECONDS = 1.0
GOLDEN_FRACTION = 0.6180339887  # spreads the first hand-over of successive files evenly over a chunk


@dataclass(frozen=True, slots=True)
class _Write:
    file: RecordingFile
    pcm: bytes


@dataclass(frozen=True, slots=True)
class _Close:
    file: RecordingFile


@dataclass(frozen=True, slots=True)
class _Flushed:
    done: threading.Event


_STOP = object()


class RecordingFile:
    """One WAV file being written; made by `WavWriter.open`. Used from the event loop only."""

    def __init__(self, writer: WavWriter, path: Path, channels: int, rate: int, phase: float = 0.0) -> None:
        self.path = path
        self.channels = channels
        self.rate = rate
        self.bytes_written = 0  # audio bytes handed to the writer (what the file holds unless it failed)
        self.error: str | None = None  # set by the writer thread when the disk refused
        self.closed = False
        self._writer = writer
        self._buffer = bytearray()
        self._chunk_bytes = max(SAMPLE_WIDTH * channels, int(CHUNK_SECONDS * rate) * SAMPLE_WIDTH * channels)
        # Calls recorded from the same tick would all hand over on the same tick every second, a
        # burst for the thread (and the GIL); an earlier first hand-over by `phase` of a chunk staggers them.
        self._next_hand_over = max(SAMPLE_WIDTH * channels, int(self._chunk_bytes * (1 - phase)))
        self._finished = threading.Event()
        self._handle: wave.Wave_write | None = None  # the writer thread's

    def __repr__(self) -> str:
        return f"<RecordingFile {self.path} channels={self.channels}>"

    @property
    def failed(self) -> bool:
        return self.error is not None

    def write(self, pcm: bytes) -> None:
        """Append PCM16 little-endian audio (interleaved when stereo); no disk access here."""
        if self.closed:
            raise ValueError(f"{self!r} is closed")
        self._buffer += pcm
        self.bytes_written += len(pcm)
        if len(self._buffer) >= self._next_hand_over:
            self._next_hand_over = self._chunk_bytes
            self._hand_over()

    def close(self) -> None:
        """Hand over what is buffered and finalise the header in the thread. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._hand_over()
        self._writer._submit(_Close(self))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread has closed the file (for tests and shutdown; not from the event loop)."""
        return self._finished.wait(timeout)

    def _hand_over(self) -> None:
        if self._buffer:
            self._writer._submit(_Write(self, bytes(self._buffer)))
            self._buffer.clear()


class WavWriter:
    """The process's one recording thread, started on the first `open`."""

    def __init__(self, *, name: str = "pbx-wav-writer") -> None:
        self.name = name
        self.files_opened = 0
        self.errors = 0  # files that failed
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._open: set[RecordingFile] = set()  # not yet closed, as the event loop sees it
        self._pending = 0
        self._shut = False

    @property
    def open_files(self) -> int:
        return len(self._open)

    @property
    def pending_bytes(self) -> int:
        """Audio handed to the thread and not yet on disk."""
        return self._pending

    def open(self, path: str | Path, channels: int, rate: int = 8000) -> RecordingFile:
        """A new WAV file at ``path`` (directories are made as needed); errors show up later, logged."""
        if channels not in (1, 2):
            raise ValueError(f"a recording has 1 or 2 channels, not {channels}")
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        if self._shut:
            raise RuntimeError("the WAV writer was closed; make a new one")
        file = RecordingFile(self, Path(path), channels, rate, phase=(self.files_opened * GOLDEN_FRACTION) % 1.0)
        self._open.add(file)
        self.files_opened += 1
        if self._thread is None:
            # Daemon, so a writer never closed cannot hang exit; `close_all` and `join` write everything.
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return file

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything handed over so far is written (tests; not from the event loop)."""
        if self._thread is None or not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(_Flushed(done))
        return done.wait(timeout)

    def close_all(self) -> None:
        """Close every open file and let the thread end once it has written them (shutdown)."""
        for file in list(self._open):
            file.close()
        self._shut = True
        if self._thread is not None:
            self._queue.put(_STOP)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread after `close_all`; True when it has finished."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- event loop side -------------------------------------------------

    def _submit(self, item: _Write | _Close) -> None:
        if isinstance(item, _Write):
            with self._lock:
                self._pending += len(item.pcm)
        else:
            self._open.discard(item.file)
        self._queue.put(item)

    # -- the thread ------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                if isinstance(item, _Write):
                    self._write(item.file, item.pcm)
                elif isinstance(item, _Close):
                    self._close(item.file)
                elif isinstance(item, _Flushed):
                    item.done.set()
            except Exception:
                # The thread must outlive any one file's trouble, or every recording stops.
                log.exception("event=recording_writer_failed item=%r", item)

    def _write(self, file: RecordingFile, pcm: bytes) -> None:
        with self._lock:
            self._pending -= len(pcm)
        if file.error is not None:
            return
        try:
            if file._handle is None:
                file._handle = self._create(file)
            file._handle.writeframesraw(pcm)
        except (OSError, wave.Error) as error:
            self._fail(file, error)

    def _create(self, file: RecordingFile) -> wave.Wave_write:
        file.path.parent.mkdir(parents=True, exist_ok=True)
        handle = wave.open(str(file.path), "wb")  # noqa: SIM115 - stays open across the call's writes
        try:
            handle.setnchannels(file.channels)
            handle.setsampwidth(SAMPLE_WIDTH)
            handle.setframerate(file.rate)
        except BaseException:
            handle.close()
            raise
        return handle

    def _close(self, file: RecordingFile) -> None:
        try:
            if file.error is None:
                if file._handle is None:  # nothing was written: still leave a valid, empty WAV
                    file._handle = self._create(file)
                # wave rewrites the RIFF and data sizes in the header on close.
                file._handle.close()
        except (OSError, wave.Error) as error:
            self._fail(file, error)
        finally:
            file._handle = None
            file._finished.set()

    def _fail(self, file: RecordingFile, error: BaseException) -> None:
        if file.error is not None:
            return
        file.error = f"{type(error).__name__}: {error}"
        self.errors += 1
        log.error("event=recording_write_failed path=%s error=%r; the rest of this recording is discarded",
                  file.path, file.error)
        handle, file._handle = file._handle, None
        if handle is not None:
            try:
                handle.close()
            except (OSError, wave.Error):
                # Closing a half-written file can fail again (the header patch); it is already counted.
                pass
