"""Tests for pbx.media.wav_writer: real files in tmp_path, written by the one background thread."""

import logging
import os
import struct
import wave
from array import array

import pytest

from pbx.media.wav_writer import WavWriter


@pytest.fixture
def writer():
    writer = WavWriter()
    yield writer
    writer.close_all()
    assert writer.join(5)


def pcm(count: int, start: int = 0) -> bytes:
    return array("h", [(start + index) % 30000 - 15000 for index in range(count)]).tobytes()


def read(path):
    with wave.open(str(path), "rb") as reader:
        return reader.getnchannels(), reader.getsampwidth(), reader.getframerate(), reader.readframes(10**9)


@pytest.mark.parametrize("channels", [1, 2])
def test_header_and_content_match_what_was_written(tmp_path, writer, channels):
    path = tmp_path / "calls" / "2026" / f"call-{channels}.wav"  # directories are made by the thread
    file = writer.open(path, channels)
    frames = [pcm(160 * channels, start=index) for index in range(120)]  # 2.4 s: more than one chunk
    for frame in frames:
        file.write(frame)
    file.close()
    assert file.wait(5)
    assert not file.failed and file.bytes_written == sum(map(len, frames))
    assert read(path) == (channels, 2, 8000, b"".join(frames))
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:16] == b"WAVEfmt "
    riff_size, = struct.unpack_from("<I", raw, 4)
    assert riff_size == len(raw) - 8
    assert struct.unpack_from("<HHIIHH", raw, 20) == (1, channels, 8000, 8000 * 2 * channels, 2 * channels, 16)
    assert raw[36:40] == b"data" and struct.unpack_from("<I", raw, 40)[0] == file.bytes_written


def test_write_stays_in_memory_until_a_second_of_audio(tmp_path, writer):
    file = writer.open(tmp_path / "a.wav", 1)
    file.write(pcm(160))
    assert writer.flush(5)
    assert not (tmp_path / "a.wav").exists()  # nothing handed over yet: no disk touched
    for _ in range(50):
        file.write(pcm(160))
    assert writer.flush(5)
    assert (tmp_path / "a.wav").exists()
    assert writer.pending_bytes == 0


def test_a_file_closed_without_audio_is_a_valid_empty_wav(tmp_path, writer):
    file = writer.open(tmp_path / "empty.wav", 2)
    file.close()
    file.close()  # idempotent
    assert file.wait(5)
    assert read(tmp_path / "empty.wav") == (2, 2, 8000, b"")
    with pytest.raises(ValueError, match="closed"):
        file.write(pcm(10))


def test_many_files_at_once(tmp_path, writer):
    files = [writer.open(tmp_path / f"{index // 100}" / f"call-{index}.wav", 2) for index in range(300)]
    assert writer.open_files == 300
    for second in range(3):
        for index, file in enumerate(files):
            file.write(pcm(2 * 8000, start=index + second))  # one second of stereo each
    for file in files:
        file.close()
    assert all(file.wait(10) for file in files)
    assert writer.open_files == 0 and writer.errors == 0
    for index in (0, 151, 299):
        expected = b"".join(pcm(2 * 8000, start=index + second) for second in range(3))
        assert read(tmp_path / f"{index // 100}" / f"call-{index}.wav") == (2, 2, 8000, expected)


def test_an_unwritable_directory_is_logged_once_and_counted_not_raised(tmp_path, writer, caplog):
    # A file where the directory should be: refused even to root, unlike a chmod.
    (tmp_path / "recordings").write_text("not a directory")
    with caplog.at_level(logging.ERROR, logger="pbx.media.wav_writer"):
        file = writer.open(tmp_path / "recordings" / "2026" / "call.wav", 1)
        for _ in range(200):  # four chunks, each refused
            file.write(pcm(160))
        file.close()
        assert file.wait(5)
    assert file.failed and ("FileExistsError" in file.error or "NotADirectoryError" in file.error)
    assert writer.errors == 1
    assert len([record for record in caplog.records if "recording_write_failed" in record.getMessage()]) == 1
    good = writer.open(tmp_path / "fine.wav", 1)  # the thread carries on for the others
    good.write(pcm(160))
    good.close()
    assert good.wait(5) and read(tmp_path / "fine.wav")[3] == pcm(160)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_directory_is_a_counted_error(tmp_path, writer):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        file = writer.open(locked / "call.wav", 1)
        file.close()
        assert file.wait(5)
    finally:
        locked.chmod(0o700)
    assert file.failed and "PermissionError" in file.error and writer.errors == 1


def test_a_full_disk_is_logged_and_counted(tmp_path, writer, caplog):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with caplog.at_level(logging.ERROR, logger="pbx.media.wav_writer"):
        file = writer.open("/dev/full", 1)
        for _ in range(100):
            file.write(pcm(160))
        file.close()
        assert file.wait(5)
    assert file.failed and "No space left" in file.error
    assert writer.errors == 1


def test_close_all_closes_open_files_and_ends_the_thread(tmp_path):
    writer = WavWriter()
    file = writer.open(tmp_path / "left-open.wav", 1)
    file.write(pcm(160))
    writer.close_all()
    assert writer.join(5)
    assert read(tmp_path / "left-open.wav")[3] == pcm(160)
    with pytest.raises(RuntimeError, match="closed"):
        writer.open(tmp_path / "late.wav", 1)


def test_bad_arguments_raise():
    writer = WavWriter()
    with pytest.raises(ValueError, match="1 or 2 channels"):
        writer.open("x.wav", 3)
