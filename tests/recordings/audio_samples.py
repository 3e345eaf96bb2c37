"""Test audio, generated on the fly with the ffmpeg bundled in the imageio-ffmpeg wheel.

No binary fixtures are committed: every writer creates a fresh file at the given path. Output is
deterministic (bit-exact flags, no metadata), so writing the same format with the same arguments
twice gives identical bytes, while another `frequency` (or `seed` for GSM) gives different bytes.

The bundled ffmpeg cannot *encode* GSM 06.10, so GSM is synthesised: a raw GSM frame is 33 bytes
whose first byte carries the signature nibble 0xD; every other bit pattern is a valid set of
codec parameters, so random bits decode (to noise). The Microsoft variant in WAV (format tag
0x0031) packs two frames, without signatures, into 65-byte blocks.
"""

from __future__ import annotations

import random
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg

GSM_FRAME_BYTES = 33
GSM_FRAMES_PER_SECOND = 50  # 160 samples a frame at 8 kHz
GSM_MS_BLOCK_BYTES = 65
GSM_MS_SAMPLES_PER_BLOCK = 320
GSM_MS_BLOCKS_PER_SECOND = 25

Writer = Callable[..., Path]


def ffmpeg() -> str:
    # Deliberately not recordings.audio.ffmpeg_executable(): tests hide ffmpeg from PATH and
    # clear that cache, and the generator must keep working regardless.
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _encode(
    path: Path,
    *,
    seconds: float,
    channels: int,
    rate: int,
    frequency: int,
    codec_args: list[str],
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        ffmpeg(),
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={frequency}:sample_rate={rate}:duration={seconds}",
        "-ac",
        str(channels),
        "-ar",
        str(rate),
        # Reproducible bytes: no encoder version string, no creation time.
        "-map_metadata",
        "-1",
        "-fflags",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        *codec_args,
        str(path),
    ]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {path.name}: {result.stderr.decode()}")
    return path


def write_wav_pcm16(
    path: Path, seconds: float = 2, channels: int = 1, rate: int = 8000, frequency: int = 440
) -> Path:
    return _encode(
        path,
        seconds=seconds,
        channels=channels,
        rate=rate,
        frequency=frequency,
        codec_args=["-c:a", "pcm_s16le", "-f", "wav"],
    )


def write_wav_mulaw(
    path: Path, seconds: float = 2, channels: int = 1, rate: int = 8000, frequency: int = 440
) -> Path:
    return _encode(
        path,
        seconds=seconds,
        channels=channels,
        rate=rate,
        frequency=frequency,
        codec_args=["-c:a", "pcm_mulaw", "-f", "wav"],
    )


def write_wav_alaw(
    path: Path, seconds: float = 2, channels: int = 1, rate: int = 8000, frequency: int = 440
) -> Path:
    return _encode(
        path,
        seconds=seconds,
        channels=channels,
        rate=rate,
        frequency=frequency,
        codec_args=["-c:a", "pcm_alaw", "-f", "wav"],
    )


def write_mp3(
    path: Path, seconds: float = 2, channels: int = 1, rate: int = 8000, frequency: int = 440
) -> Path:
    return _encode(
        path,
        seconds=seconds,
        channels=channels,
        rate=rate,
        frequency=frequency,
        codec_args=["-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3"],
    )


def write_ogg_opus(
    path: Path, seconds: float = 2, channels: int = 1, rate: int = 48000, frequency: int = 440
) -> Path:
    # Opus always decodes at 48 kHz; libopus accepts 8/12/16/24/48 kHz input.
    return _encode(
        path,
        seconds=seconds,
        channels=channels,
        rate=rate,
        frequency=frequency,
        codec_args=["-c:a", "libopus", "-b:a", "24k", "-f", "ogg"],
    )


def write_m4a_aac(
    path: Path, seconds: float = 2, channels: int = 1, rate: int = 8000, frequency: int = 440
) -> Path:
    return _encode(
        path,
        seconds=seconds,
        channels=channels,
        rate=rate,
        frequency=frequency,
        codec_args=["-c:a", "aac", "-b:a", "32k", "-f", "ipod"],
    )


def write_flac(
    path: Path, seconds: float = 2, channels: int = 1, rate: int = 8000, frequency: int = 440
) -> Path:
    return _encode(
        path,
        seconds=seconds,
        channels=channels,
        rate=rate,
        frequency=frequency,
        codec_args=["-c:a", "flac", "-f", "flac"],
    )


def gsm_frames(seconds: float, seed: int = 1) -> bytes:
    """Raw GSM 06.10 (8 kHz mono): 33-byte frames, signature nibble 0xD, random parameters."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test noise, not a secret
    frames = bytearray()
    for _ in range(round(seconds * GSM_FRAMES_PER_SECOND)):
        frame = bytearray(rng.randbytes(GSM_FRAME_BYTES))
        frame[0] = 0xD0 | (frame[0] & 0x0F)
        frames += frame
    return bytes(frames)


def write_gsm(path: Path, seconds: float = 2, seed: int = 1) -> Path:
    """Raw GSM (`.gsm`, what many PBXes write). Always 8 kHz mono."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gsm_frames(seconds, seed))
    return path


def write_wav_gsm(path: Path, seconds: float = 2, seed: int = 1) -> Path:
    """GSM 06.10 in WAV (Microsoft GSM, format tag 0x0031). Always 8 kHz mono."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test noise, not a secret
    blocks = max(1, round(seconds * GSM_MS_BLOCKS_PER_SECOND))
    data = rng.randbytes(blocks * GSM_MS_BLOCK_BYTES)
    fmt = struct.pack(
        "<HHIIHHHH",
        0x0031,  # WAVE_FORMAT_GSM610
        1,  # channels
        8000,  # sample rate
        1625,  # average bytes a second: 8000 / 320 * 65
        GSM_MS_BLOCK_BYTES,  # block align
        0,  # bits per sample: not meaningful for GSM
        2,  # size of the extra bytes that follow
        GSM_MS_SAMPLES_PER_BLOCK,
    )
    fact = struct.pack("<I", blocks * GSM_MS_SAMPLES_PER_BLOCK)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"fact"
        + struct.pack("<I", len(fact))
        + fact
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


# name -> (writer, Content-Type a PBX would send). Every writer takes (path, seconds=...);
# all but the GSM ones also take channels=, rate= and frequency=.
FORMATS: dict[str, tuple[Writer, str]] = {
    "wav_pcm16": (write_wav_pcm16, "audio/wav"),
    "wav_mulaw": (write_wav_mulaw, "audio/wav"),
    "wav_alaw": (write_wav_alaw, "audio/wav"),
    "wav_gsm": (write_wav_gsm, "audio/wav"),
    "gsm": (write_gsm, "audio/gsm"),
    "mp3": (write_mp3, "audio/mpeg"),
    "ogg_opus": (write_ogg_opus, "audio/ogg"),
    "m4a_aac": (write_m4a_aac, "audio/mp4"),
    "flac": (write_flac, "audio/flac"),
}

# Formats whose writer accepts `channels=` (GSM is mono by definition).
MULTICHANNEL_FORMATS = tuple(name for name in FORMATS if name not in {"gsm", "wav_gsm"})

# What recordings.audio.inspect_audio is expected to report for each format.
EXPECTED_CODECS: dict[str, str] = {
    "wav_pcm16": "pcm_s16le",
    "wav_mulaw": "pcm_mulaw",
    "wav_alaw": "pcm_alaw",
    "wav_gsm": "gsm_ms",
    "gsm": "gsm",
    "mp3": "mp3",
    "ogg_opus": "opus",
    "m4a_aac": "aac",
    "flac": "flac",
}


def corrupt(path: Path, seed: int = 7) -> Path:
    """Overwrite the middle half of the file with random bytes (headers stay intact)."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    start, end = len(data) // 4, len(data) * 3 // 4
    data[start:end] = random.Random(seed).randbytes(end - start)  # noqa: S311 - test noise
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut the file short, keeping the first `keep` fraction of its bytes."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
