"""Memory and time of the recording intake for long calls, measured on a real server process.

For each profile this script:

1. generates a long recording with the ffmpeg bundled in imageio-ffmpeg (a sine tone with a
   little noise, so encoders do real work),
2. prepares a throw-away deployment (temporary instance folder, SQLite, `flask db upgrade`, an
   integration token from `flask integrations create-token`),
3. starts the application with `flask --app app run` in its own process,
4. registers a call (`POST /api/v1/calls`) and uploads the file (`PUT .../recording`) streamed
   from disk over a plain HTTP connection,
5. samples the server's resident memory, and separately that of its ffmpeg children, every
   50 ms from before the upload starts until the response arrives,
6. after the upload, times the same ffmpeg decoding the same file to nothing (the same-run
   baseline) and counts how many of the stored objects are sealed (encryption at rest).

Encryption at rest follows the app's default (`RECORDING_ENCRYPTION`, on) unless
`--encryption on|off` sets it; the stored objects are checked either way, so the output says
what was measured, not what was asked for.

It is a measurement, not a test: it prints numbers and asserts nothing except that the upload
was accepted. Run it from the repository root:

    .venv/bin/python benchmarks/upload_memory.py                     # all profiles, 2 hours
    .venv/bin/python benchmarks/upload_memory.py --minutes 10 --profile telephony-mulaw
    .venv/bin/python benchmarks/upload_memory.py --encryption off   # sealing's cost
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import imageio_ffmpeg
import psutil

REPOSITORY = Path(__file__).resolve().parent.parent
# The first bytes of a sealed object (`recordings.sealing.MAGIC`; read from there below).
sys.path.insert(0, str(REPOSITORY))
from recordings.sealing import MAGIC  # noqa: E402

SAMPLE_INTERVAL = 0.05
SEND_CHUNK = 1024 * 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    content_type: str
    # ffmpeg arguments after the input: channels, rate, codec and container.
    encode: tuple[str, ...]
    rate: int


PROFILES = {
    profile.name: profile
    for profile in (
        Profile(
            "telephony-mulaw",
            "8 kHz mono G.711 µ-law WAV (what the PBX writes; gets an MP3 playback copy)",
            "audio/wav",
            ("-ac", "1", "-ar", "8000", "-c:a", "pcm_mulaw", "-f", "wav"),
            8000,
        ),
        Profile(
            "telephony-pcm16",
            "8 kHz mono 16-bit PCM WAV",
            "audio/wav",
            ("-ac", "1", "-ar", "8000", "-c:a", "pcm_s16le", "-f", "wav"),
            8000,
        ),
        Profile(
            "hifi-mp3",
            "44.1 kHz stereo MP3 at 128 kbit/s",
            "audio/mpeg",
            ("-ac", "2", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"),
            44100,
        ),
    )
}


@dataclass
class Peaks:
    """Resident set sizes sampled while an upload runs."""

    server_baseline: int = 0
    server_peak: int = 0
    ffmpeg_peak_single: int = 0
    ffmpeg_peak_total: int = 0
    ffmpeg_commands: set[str] = field(default_factory=set)
    samples: int = 0


def ffmpeg() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def generate(profile: Profile, minutes: float, target: Path) -> float:
    """Write the recording; returns the seconds it took."""
    started = time.monotonic()
    seconds = minutes * 60
    source = (
        f"sine=frequency=440:sample_rate={profile.rate}:duration={seconds}[tone];"
        f"anoisesrc=color=pink:amplitude=0.05:sample_rate={profile.rate}:duration={seconds}"
        "[noise];[tone][noise]amix=inputs=2:duration=shortest"
    )
    subprocess.run(
        [
            ffmpeg(),
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-filter_complex",
            source,
            *profile.encode,
            str(target),
        ],
        check=True,
    )
    return time.monotonic() - started


def plain_decode_seconds(recording: Path) -> float:
    """The baseline: the bundled ffmpeg decoding the same file to nothing, as fast as it can
    (what any intake that checks the audio must at least do)."""
    started = time.perf_counter()
    subprocess.run(
        [ffmpeg(), "-v", "error", "-nostdin", "-i", str(recording), "-f", "null", "-"],
        check=True,
    )
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def flask_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "app", *arguments]


def deployment_environment(
    workdir: Path, max_upload_bytes: int, encryption: str | None = None
) -> dict[str, str]:
    environment = dict(os.environ)
    if encryption is not None:
        environment["RECORDING_ENCRYPTION"] = "1" if encryption == "on" else "0"
    environment.update(
        CS_ENV="development",
        CS_INSTANCE_PATH=str(workdir / "instance"),
        DATABASE_URL=f"sqlite:///{workdir / 'benchmark.sqlite3'}",
        RECORDING_STORAGE_PATH=str(workdir / "recordings"),
        MAX_UPLOAD_BYTES=str(max_upload_bytes),
        FLASK_DEBUG="0",
        PYTHONUNBUFFERED="1",
    )
    return environment


def prepare_deployment(environment: dict[str, str]) -> str:
    """Migrate the database and create an integration token; returns the token."""
    subprocess.run(
        flask_command("db", "upgrade"),
        cwd=REPOSITORY,
        env=environment,
        check=True,
        capture_output=True,
    )
    created = subprocess.run(
        flask_command("integrations", "create-token", "benchmark-pbx"),
        cwd=REPOSITORY,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"Token \(shown once[^)]*\): (\S+)", created.stdout)
    if match is None:
        raise RuntimeError(f"could not read the token from: {created.stdout!r}")
    return match.group(1)


@contextmanager
def running_server(environment: dict[str, str], port: int, log: Path) -> Iterator[psutil.Process]:
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            flask_command("run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"),
            cwd=REPOSITORY,
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_listening(port, server)
            yield psutil.Process(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_until_listening(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited during start-up; see its log")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", "/health")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start listening within 30 s")


def is_ffmpeg(process: psutil.Process) -> bool:
    try:
        return Path(process.exe()).name.startswith("ffmpeg")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def sample_memory(server: psutil.Process, peaks: Peaks, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            peaks.server_peak = max(peaks.server_peak, server.memory_info().rss)
            children = server.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        total = 0
        for child in children:
            if not is_ffmpeg(child):
                continue
            try:
                rss = child.memory_info().rss
                # Which ffmpeg run this is: header read, full decode, excerpt or playback copy.
                arguments = child.cmdline()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            total += rss
            peaks.ffmpeg_peak_single = max(peaks.ffmpeg_peak_single, rss)
            peaks.ffmpeg_commands.add(describe_ffmpeg(arguments))
        peaks.ffmpeg_peak_total = max(peaks.ffmpeg_peak_total, total)
        peaks.samples += 1
        stop.wait(SAMPLE_INTERVAL)


def describe_ffmpeg(arguments: list[str]) -> str:
    if "libmp3lame" in arguments:
        return "playback copy (MP3)"
    if "s16le" in arguments:
        return "full decode"
    if "-t" in arguments:
        return "pydub excerpt"
    return "header read"


def api_request(
    port: int, method: str, path: str, token: str, body: bytes, content_type: str
) -> tuple[int, dict[str, object]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request(
        method,
        path,
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    response = connection.getresponse()
    payload = json.loads(response.read() or b"{}")
    connection.close()
    return response.status, payload


def upload(
    port: int, path: str, token: str, recording: Path, content_type: str
) -> tuple[int, dict[str, object], float, float]:
    """PUT the file streamed from disk. Returns status, body, send seconds, total seconds."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)
    started = time.monotonic()
    connection.putrequest("PUT", path)
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", content_type)
    connection.putheader("Content-Length", str(recording.stat().st_size))
    connection.endheaders()
    with recording.open("rb") as source:
        while chunk := source.read(SEND_CHUNK):
            connection.send(chunk)
    sent = time.monotonic() - started
    response = connection.getresponse()
    payload = json.loads(response.read() or b"{}")
    total = time.monotonic() - started
    connection.close()
    return response.status, payload, sent, total


def stored_objects(root: Path) -> tuple[int, int]:
    """(sealed, total) among the stored objects under the storage folder (staging left out)."""
    sealed = total = 0
    for path in root.rglob("*"):
        if not path.is_file() or ".staging" in path.relative_to(root).parts:
            continue
        total += 1
        with path.open("rb") as handle:
            sealed += handle.read(len(MAGIC)) == MAGIC
    return sealed, total


def run_profile(
    profile: Profile, minutes: float, workdir: Path, encryption: str | None = None
) -> dict[str, object]:
    folder = workdir / profile.name
    folder.mkdir()
    recording = folder / "recording"
    generation_seconds = generate(profile, minutes, recording)
    size = recording.stat().st_size
    environment = deployment_environment(
        folder, max_upload_bytes=max(size * 2, 200 * MIB), encryption=encryption
    )
    token = prepare_deployment(environment)
    port = free_port()
    call_id = f"benchmark-{profile.name}"
    ended = datetime.now(UTC) - timedelta(minutes=1)
    call = {
        "external_call_id": call_id,
        "direction": "inbound",
        "customer_number": "+358401234567",
        "started_at": (ended - timedelta(minutes=minutes)).isoformat(),
        "ended_at": ended.isoformat(),
    }
    with running_server(environment, port, folder / "server.log") as server:
        status, body = api_request(
            port, "POST", "/api/v1/calls", token, json.dumps(call).encode(), "application/json"
        )
        if status != 201:
            raise RuntimeError(f"registering the call failed: {status} {body}")
        peaks = Peaks(server_baseline=server.memory_info().rss)
        stop = threading.Event()
        sampler = threading.Thread(target=sample_memory, args=(server, peaks, stop))
        sampler.start()
        try:
            status, body, sent_seconds, total_seconds = upload(
                port,
                f"/api/v1/calls/{call_id}/recording",
                token,
                recording,
                profile.content_type,
            )
        finally:
            stop.set()
            sampler.join()
    if status != 201:
        raise RuntimeError(f"the upload was refused: {status} {body}")
    decode_seconds = plain_decode_seconds(recording)
    sealed, stored = stored_objects(folder / "recordings")
    return {
        "profile": profile.name,
        "description": profile.description,
        "minutes": minutes,
        "file_bytes": size,
        "generation_seconds": round(generation_seconds, 1),
        "send_seconds": round(sent_seconds, 2),
        "upload_and_validation_seconds": round(total_seconds, 2),
        "plain_ffmpeg_decode_seconds": round(decode_seconds, 2),
        "upload_to_decode_ratio": round(total_seconds / decode_seconds, 2),
        "stored_objects_sealed": f"{sealed} of {stored}",
        "server_rss_baseline_mib": round(peaks.server_baseline / MIB, 1),
        "server_rss_peak_mib": round(peaks.server_peak / MIB, 1),
        "server_rss_growth_mib": round((peaks.server_peak - peaks.server_baseline) / MIB, 1),
        "ffmpeg_rss_peak_single_mib": round(peaks.ffmpeg_peak_single / MIB, 1),
        "ffmpeg_rss_peak_total_mib": round(peaks.ffmpeg_peak_total / MIB, 1),
        "ffmpeg_runs_seen": sorted(peaks.ffmpeg_commands),
        "samples": peaks.samples,
        "recording": {key: body.get(key) for key in ("codec", "container", "duration_seconds")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=120.0, help="recording length")
    parser.add_argument(
        "--profile", choices=[*PROFILES, "all"], default="all", help="which recording to send"
    )
    parser.add_argument(
        "--encryption",
        choices=("on", "off"),
        help="set RECORDING_ENCRYPTION for the server (default: the app's default, on)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    arguments = parser.parse_args()

    chosen = (
        list(PROFILES.values()) if arguments.profile == "all" else [PROFILES[arguments.profile]]
    )
    workdir = Path(tempfile.mkdtemp(prefix="cs-upload-benchmark-"))
    print(
        f"machine: {os.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 1024**3:.1f} GiB RAM, Python {sys.version.split()[0]}"
    )
    print(f"ffmpeg: {ffmpeg()}")
    setting = arguments.encryption or os.environ.get("RECORDING_ENCRYPTION", "(default, on)")
    print(f"encryption at rest asked: {setting}")
    print(f"working folder: {workdir}")
    results = []
    try:
        for profile in chosen:
            print(f"\n== {profile.name}: {profile.description}, {arguments.minutes:g} min")
            result = run_profile(profile, arguments.minutes, workdir, arguments.encryption)
            results.append(result)
            for key, value in result.items():
                if key not in ("profile", "description"):
                    print(f"  {key}: {value}")
    finally:
        if not arguments.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n" + json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
