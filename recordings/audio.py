"""Audio inspection: the only module that runs ffmpeg or uses pydub.

An upload is accepted only if ffmpeg decodes it completely, without errors. Decoding is
streamed through a pipe and counted, never held in memory, so a two-hour call costs no more
memory than a two-second one. Then pydub decodes a short excerpt to confirm channels and sample
rate as a decoder sees them.

ffmpeg comes from PATH when present, otherwise from the `imageio-ffmpeg` wheel. That wheel has
no `ffprobe`, and pydub needs `ffprobe` unless it is told the codec, so we read the container
and codec from ffmpeg's own banner and always pass the codec to pydub.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from recordings.storage import StagedUpload

# Decoded to 8 kHz mono 16-bit for counting: 16,000 bytes a second.
_COUNT_RATE = 8000
_COUNT_BYTES_PER_SECOND = _COUNT_RATE * 2
_PIPE_CHUNK = 64 * 1024
EXCERPT_SECONDS = 5

_INPUT = re.compile(r"^Input #0, ([^,]+(?:,[^ ,]+)*), from ", re.MULTILINE)
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_AUDIO_STREAM = re.compile(r"Stream #0:\d+[^:]*: Audio: ([a-z0-9_]+)[^,]*, (\d+) Hz, ([^,]+),")
_CHANNEL_WORDS = {"mono": 1, "stereo": 2}


class AudioRejected(Exception):
    """The upload is not audio we can keep. The message is written for the uploader."""


@dataclass(frozen=True)
class AudioInfo:
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration_seconds: float


@functools.cache
def ffmpeg_executable() -> str:
    """ffmpeg on PATH, else the binary bundled with the imageio-ffmpeg wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _channels(text: str) -> int:
    text = text.strip()
    if text in _CHANNEL_WORDS:
        return _CHANNEL_WORDS[text]
    match = re.match(r"(\d+) channels", text)
    if match:
        return int(match.group(1))
    # Layouts such as "5.1" or "quad": the decoded excerpt will say exactly.
    return 0


def _read_header(path: Path, timeout: float) -> tuple[str, str, int, int, float | None]:
    """Container, codec, sample rate, channels and declared duration from ffmpeg's banner."""
    try:
        result = subprocess.run(
            [ffmpeg_executable(), "-hide_banner", "-nostdin", "-i", str(path)],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AudioRejected("Reading the audio took too long.") from None
    banner = result.stderr.decode("utf-8", errors="replace")
    container = _INPUT.search(banner)
    stream = _AUDIO_STREAM.search(banner)
    if container is None or stream is None:
        raise AudioRejected("The upload is not an audio file that could be read.")
    duration = _DURATION.search(banner)
    declared = None
    if duration:
        hours, minutes, seconds = duration.groups()
        declared = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return (
        container.group(1),
        stream.group(1),
        int(stream.group(2)),
        _channels(stream.group(3)),
        declared,
    )


def _decoded_seconds(path: Path, timeout: float) -> float:
    """Decode the whole first audio stream through a pipe, counting samples, failing on errors."""
    command = [
        ffmpeg_executable(),
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-f",
        "s16le",
        "-acodec",
        "pcm_s16le",
        "-ac",
        "1",
        "-ar",
        str(_COUNT_RATE),
        "pipe:1",
    ]
    total = 0
    # Diagnostics go to a file, not a pipe: a corrupt file makes ffmpeg write a line per bad
    # packet, and a full stderr pipe that nobody reads would block it (and us) for good.
    with tempfile.TemporaryFile() as diagnostics:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=diagnostics)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            process.kill()

        # The read loop below blocks on the pipe, so the deadline is enforced from outside.
        watchdog = threading.Timer(timeout, expire)
        watchdog.start()
        try:
            assert process.stdout is not None  # noqa: S101 - set by stdout=PIPE
            with process.stdout:
                while chunk := process.stdout.read(_PIPE_CHUNK):
                    total += len(chunk)
            returncode = process.wait()
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
        timed_out = expired.is_set() and returncode != 0
        had_errors = os.fstat(diagnostics.fileno()).st_size > 0
    if timed_out:
        raise AudioRejected("Decoding the audio took too long.")
    if returncode != 0 or had_errors:
        raise AudioRejected("The audio could not be decoded completely; it may be corrupt.")
    return total / _COUNT_BYTES_PER_SECOND


# --- Declared lengths -------------------------------------------------------------------------
# ffmpeg stops quietly at the end of the bytes it has for several containers, and estimates a
# WAV's duration from the file size when the header promises more. These checks compare what
# the container's own header declares with the bytes actually present, reading headers only.

_OGG_MAX_PAGE = 27 + 255 + 255 * 255
_OGG_END_OF_STREAM = 0x04
_MP4_MAX_TOP_LEVEL_BOXES = 10_000
_RIFF_MAX_CHUNKS = 1_000
# Writers that stream a WAV without seeking back leave the data size as a placeholder.
_RIFF_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def _riff_complete(handle: BinaryIO, file_size: int) -> bool:
    """A WAV's data chunk holds as many bytes as its header says (RF64: as ds64 says)."""
    magic = handle.read(12)
    if len(magic) < 12 or magic[8:12] != b"WAVE":
        return True  # not RIFF/WAVE after all: leave it to the decoder
    large_data_size = None
    position = 12
    for _ in range(_RIFF_MAX_CHUNKS):
        handle.seek(position)
        header = handle.read(8)
        if len(header) < 8:
            return True  # no data chunk found; the decoder has already judged the audio
        chunk_id, size = header[:4], struct.unpack("<I", header[4:])[0]
        if chunk_id == b"ds64" and size >= 16:
            sizes = handle.read(16)  # RIFF size, then data size, both 64-bit
            if len(sizes) < 16:
                return False
            large_data_size = struct.unpack("<Q", sizes[8:16])[0]
        if chunk_id == b"data":
            if magic[:4] in (b"RF64", b"BW64") and large_data_size is not None:
                size = large_data_size
            elif size in _RIFF_UNKNOWN_SIZES:
                return True
            return position + 8 + size <= file_size
        if position + 8 + size > file_size:
            return False
        position += 8 + size + (size & 1)  # chunks are padded to an even length
    return True


def _mp4_complete(handle: BinaryIO, file_size: int) -> bool:
    """Every top-level MP4 box (ftyp, moov, mdat, ...) fits inside the file."""
    position = 0
    for _ in range(_MP4_MAX_TOP_LEVEL_BOXES):
        if position == file_size:
            return True
        handle.seek(position)
        header = handle.read(16)
        if len(header) < 8:
            return False
        size = struct.unpack(">I", header[:4])[0]
        if size == 0:
            return True  # "extends to the end of the file"
        if size == 1:
            if len(header) < 16:
                return False
            size = struct.unpack(">Q", header[8:16])[0]
        if size < 8 or position + size > file_size:
            return False
        position += size
    return True


def _ogg_complete(handle: BinaryIO, file_size: int) -> bool:
    """The file ends exactly at the end of a page that marks the end of its stream."""
    tail_start = max(0, file_size - _OGG_MAX_PAGE)
    handle.seek(tail_start)
    tail = handle.read()
    candidate = tail.rfind(b"OggS")
    while candidate >= 0:
        header = tail[candidate : candidate + 27]
        if len(header) == 27:
            segments = header[26]
            table = tail[candidate + 27 : candidate + 27 + segments]
            page_end = candidate + 27 + segments + sum(table)
            if len(table) == segments and page_end == len(tail):
                return bool(header[5] & _OGG_END_OF_STREAM)
        candidate = tail.rfind(b"OggS", 0, candidate)
    return False


def _mp3_complete(handle: BinaryIO, file_size: int) -> bool:
    """An MP3 with a Xing/Info header is at least as long as the byte count it declares."""
    start = handle.read(10)
    offset = 0
    if len(start) == 10 and start[:3] == b"ID3":
        # ID3v2 sizes are "syncsafe": seven bits a byte.
        offset = 10 + ((start[6] << 21) | (start[7] << 14) | (start[8] << 7) | start[9])
    handle.seek(offset)
    first_frame = handle.read(200)
    for tag in (b"Xing", b"Info"):
        found = first_frame.find(tag)
        if found < 0 or len(first_frame) < found + 16:
            continue
        flags = struct.unpack(">I", first_frame[found + 4 : found + 8])[0]
        if not flags & 0x02:
            return True
        field_at = found + 8 + (4 if flags & 0x01 else 0)
        declared_bytes = struct.unpack(">I", first_frame[field_at : field_at + 4])[0]
        # Encoders differ on whether the count includes the ID3v2 tag; the whole file size is
        # the lenient reading, so an honest file never fails this.
        return file_size >= declared_bytes
    return True


_COMPLETENESS_CHECKS = {
    "wav": _riff_complete,
    "mov": _mp4_complete,
    "ogg": _ogg_complete,
    "mp3": _mp3_complete,
}


def _declared_length_present(path: Path, container: str) -> bool:
    check = _COMPLETENESS_CHECKS.get(container)
    if check is None:
        return True
    with path.open("rb") as handle:
        return check(handle, os.fstat(handle.fileno()).st_size)


def _decode_excerpt(path: Path, codec: str) -> tuple[int, int]:
    """Channels and sample rate of a short decoded excerpt, through pydub."""
    with warnings.catch_warnings():
        # pydub warns at import when ffmpeg is not on PATH (we hand it the path right after)
        # and about the stdlib audioop module it uses, which Python 3.11 still ships.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError

    AudioSegment.converter = ffmpeg_executable()
    # pydub reads a file named *.wav (or *.raw, *.pcm) whole into memory before cutting the
    # excerpt; an extension-less link makes it hand the path to ffmpeg like any other format.
    with tempfile.TemporaryDirectory(prefix="excerpt-") as folder:
        neutral = Path(folder) / "audio"
        neutral.symlink_to(path.resolve())
        try:
            excerpt = AudioSegment.from_file(str(neutral), codec=codec, duration=EXCERPT_SECONDS)
        except (CouldntDecodeError, OSError, IndexError):
            raise AudioRejected("The audio could not be decoded.") from None
    return int(excerpt.channels), int(excerpt.frame_rate)


def inspect_audio(path: Path, *, timeout: float = 600.0) -> AudioInfo:
    """Fully validate an audio file and describe it, or raise `AudioRejected`."""
    if path.stat().st_size == 0:
        raise AudioRejected("The upload is empty.")
    container, codec, sample_rate, channels, declared = _read_header(path, timeout)
    demuxer = container.split(",")[0]
    if not _declared_length_present(path, demuxer):
        raise AudioRejected("The audio is truncated: it ends before its declared length.")
    decoded = _decoded_seconds(path, timeout)
    if decoded <= 0:
        raise AudioRejected("The upload contains no audio.")
    # A container that promises more audio than could be decoded has been cut short. Encoder
    # padding and frame rounding account for a small difference, never for a large one.
    if declared is not None and decoded < declared - max(0.5, declared * 0.02):
        raise AudioRejected("The audio is truncated: it ends before its declared length.")
    excerpt_channels, excerpt_rate = _decode_excerpt(path, codec)
    return AudioInfo(
        # ffmpeg names the MP4 family's demuxer "mov"; people know it as MP4/M4A.
        container={"mov": "mp4"}.get(demuxer, demuxer),
        codec=codec,
        sample_rate=excerpt_rate or sample_rate,
        channels=excerpt_channels or channels,
        duration_seconds=round(decoded, 3),
    )


# Every recording gets an MP3 copy for listening (`recordings.services.store_recording`): the
# console's player plays it, so an agent never receives the original's bytes (only supervisors
# download those), and telephony codecs browsers cannot play (GSM, G.711) play everywhere. The
# original stays untouched as the evidence.


def make_playback_copy(source: Path, target: StagedUpload, *, timeout: float = 1800.0) -> None:
    """Transcode `source` to the listening copy, MP3, into the staged file `target` (file to
    file, streamed)."""
    result = subprocess.run(
        [
            ffmpeg_executable(),
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-i",
            str(source),
            "-map",
            "0:a:0",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
            "-f",
            "mp3",
            str(target.path),
        ],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AudioRejected("A playable copy of the audio could not be made.")
    target.size = target.path.stat().st_size
