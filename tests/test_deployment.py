"""The repository's gunicorn configuration serves the app: real processes, real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gunicorn_serves_the_app_with_the_repositorys_configuration(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "CS_INSTANCE_PATH": str(tmp_path),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "app:create_app()"]
    checked = subprocess.run(
        [*gunicorn, "--check-config"], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr.decode()
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(gunicorn, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:  # noqa: S310
                    assert json.loads(r.read()) == {"status": "ok"}
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)  # a real process starting up
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:  # noqa: S310
            assert json.loads(r.read())["database"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    access = (tmp_path / "gunicorn.log").read_text()
    assert '"GET /healthz HTTP/1.1" 200' in access
