"""`python app.py`: demo accounts, ffmpeg discovery, and the whole stack as a real process."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from cs_register.audit.models import AuditAction, AuditEvent
from cs_register.cli import (
    DEMO_ACCOUNTS_FILE,
    DEMO_STAFF,
    format_password_box,
    seed_demo_staff,
    write_password_file,
)
from cs_register.config import PRODUCTION, Settings, generate_key
from cs_register.db import Database
from cs_register.devstack import PROJECT_ROOT, EmbeddedRedis, ensure_ffmpeg
from cs_register.permissions import Actor, Role
from cs_register.staff.authentication import authenticate
from cs_register.staff.models import StaffUser
from cs_register.staff.passwords import PasswordHashing
from tests.conftest import FrozenClock
from tests.support.context import make_context

STARTUP_DEADLINE_SECONDS = 90
STOP_DEADLINE_SECONDS = 20


def test_seeding_an_empty_database_creates_one_one_time_account_per_role(
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    db_session: Session,
    password_hashing: PasswordHashing,
) -> None:
    outcome = seed_demo_staff(database, settings=settings, now=clock.now)

    assert outcome.seeded
    assert list(outcome.passwords) == ["agent", "supervisor", "admin", "dpo"]
    users = {user.username: user for user in db_session.scalars(sa.select(StaffUser))}
    assert {name: user.role for name, user in users.items()} == {
        "agent": Role.AGENT,
        "supervisor": Role.SUPERVISOR,
        "admin": Role.ADMIN,
        "dpo": Role.DPO,
    }
    assert all(user.must_change_password for user in users.values())
    assert len(set(outcome.passwords.values())) == len(DEMO_STAFF)
    # The printed passwords are the real ones.
    for username, password in outcome.passwords.items():
        assert (
            authenticate(
                make_context(db_session, Actor.anonymous(), clock.now),
                hashing=password_hashing,
                username=username,
                password=password,
            ).username
            == username
        )
    created = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.STAFF_CREATED)
    ).all()
    assert [event.actor_label for event in created] == ["cli"] * 4


def test_seeding_does_nothing_when_staff_exist(
    database: Database,
    settings: Settings,
    clock: FrozenClock,
    make_staff: Callable[..., StaffUser],
    db_session: Session,
) -> None:
    make_staff("admin", username="first-admin")

    outcome = seed_demo_staff(database, settings=settings, now=clock.now)

    assert not outcome.seeded
    assert outcome.skipped_because == "staff accounts already exist"
    assert db_session.scalars(sa.select(StaffUser.username)).all() == ["first-admin"]


def test_seeding_never_happens_in_production(
    database: Database, settings: Settings, clock: FrozenClock, db_session: Session
) -> None:
    production = Settings.from_env(
        {
            "CS_ENV": "production",
            "CS_INSTANCE_PATH": str(settings.instance_path),
            "DATABASE_URL": settings.database_url,
            **{
                name: generate_key()
                for name in ("SECRET_KEY", "DATA_ENCRYPTION_KEY", "BLIND_INDEX_KEY")
            },
        }
    )
    assert production.env == PRODUCTION

    outcome = seed_demo_staff(database, settings=production, now=clock.now)

    assert not outcome.seeded
    assert "production" in (outcome.skipped_because or "")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 0


def test_seed_command_prints_the_passwords_once_then_explains_why_not(app: Flask) -> None:
    runner = app.test_cli_runner()

    first = runner.invoke(args=["seed-demo-staff"])
    second = runner.invoke(args=["seed-demo-staff"])

    assert first.exit_code == 0, first.output
    for username, _role, _name in DEMO_STAFF:
        assert re.search(rf"\|\s+{username}\s+\S{{20}}\s+\|", first.output)
    assert "must be changed at first login" in first.output
    assert second.exit_code == 0
    assert "No demo accounts were created: staff accounts already exist." in second.output


def test_password_box_lines_are_all_the_same_width() -> None:
    box = format_password_box({"agent": "a" * 20, "supervisor": "b" * 20})
    widths = {len(line) for line in box.splitlines()}
    assert len(widths) == 1
    assert box.splitlines()[0].startswith("+-")


def test_the_password_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    passwords = {"agent": "a" * 20, "dpo": "d" * 20}
    instance = tmp_path / "instance"

    first = write_password_file(instance, passwords)
    second = write_password_file(instance, {"agent": "x" * 20})

    assert first == instance / DEMO_ACCOUNTS_FILE
    assert second == instance / "demo-accounts-2.txt"
    for path in (first, second):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = first.read_text()
    assert re.search(r"^agent\s+a{20}$", text, re.MULTILINE)
    assert re.search(r"^dpo\s+d{20}$", text, re.MULTILINE)
    assert "ONE-TIME PASSWORDS" in text
    assert "Delete this file" in text
    assert "x" * 20 in second.read_text()


def test_the_password_file_is_not_written_through_a_planted_link(tmp_path: Path) -> None:
    # O_EXCL: a symlink planted where the file goes is not followed.
    target = tmp_path / "elsewhere.txt"
    (tmp_path / DEMO_ACCOUNTS_FILE).symlink_to(target)

    path = write_password_file(tmp_path, {"agent": "a" * 20})

    assert path.name == "demo-accounts-2.txt"
    assert not target.exists()


def test_bundled_ffmpeg_is_linked_when_none_is_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    bin_dir, description = ensure_ffmpeg(tmp_path / "instance")
    again, _ = ensure_ffmpeg(tmp_path / "instance")

    assert bin_dir == again == tmp_path / "instance" / "bin"
    link = bin_dir / "ffmpeg"
    assert link.is_symlink()
    assert os.access(link.resolve(), os.X_OK)
    assert shutil.which("ffmpeg", path=str(bin_dir)) == str(link)
    assert "linked as" in description


def test_ffmpeg_already_on_path_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_bin = tmp_path / "usr-bin"
    fake_bin.mkdir()
    fake = fake_bin / "ffmpeg"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))

    assert ensure_ffmpeg(tmp_path / "instance") == (None, str(fake))
    assert not (tmp_path / "instance" / "bin").exists()


# --- the real stack -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Straight to 127.0.0.1, whatever proxy the environment configures.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str) -> tuple[int, str]:
    """(status, body); status 0 while nothing listens yet."""
    try:
        with _opener.open(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (urllib.error.URLError, OSError):
        return 0, ""


def _wait_for(
    condition: Callable[[], bool],
    what: str,
    process: subprocess.Popen[bytes],
    log: Path,
    deadline_seconds: float = STARTUP_DEADLINE_SECONDS,
) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"app.py exited ({process.returncode}) before {what}:\n{log.read_text()}")
        time.sleep(0.2)  # a real process starting up: poll, with a deadline
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")


Stack = tuple[subprocess.Popen[bytes], Path, int, Path]


@pytest.fixture
def start_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Starts `python app.py` with a fresh instance folder and a free port."""
    started: list[subprocess.Popen[bytes]] = []

    def _start(**extra_env: str) -> Stack:
        instance = tmp_path / "instance"
        log = tmp_path / "stack.log"
        port = _free_port()
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in {"DATABASE_URL", "REDIS_URL", "CS_ENV"}
        }
        env.update(CS_INSTANCE_PATH=str(instance), PORT=str(port), PYTHONUNBUFFERED="1")
        env.update(extra_env)
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "app.py")],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process, log, port, instance

    yield _start
    for process in started:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait()


def _stop_and_check_nothing_is_left(
    process: subprocess.Popen[bytes], log: Path, processes: list[Any]
) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_DEADLINE_SECONDS) == 0, log.read_text()
    for leftover in processes:
        assert not leftover.is_running() or leftover.status() == psutil.STATUS_ZOMBIE, leftover
    assert "Stopped." in log.read_text()


@pytest.mark.slow
def test_python_app_py_runs_the_whole_stack_and_stops_cleanly_on_ctrl_c(
    start_stack: Callable[..., Stack],
) -> None:
    process, log, port, instance = start_stack()
    base = f"http://127.0.0.1:{port}"

    _wait_for(lambda: _get(f"{base}/health")[0] == 200, "/health to answer", process, log)
    _wait_for(lambda: "Press Ctrl-C" in log.read_text(), "the summary", process, log)
    output = log.read_text()
    # The passwords are in a file only this account can read, not in the scrolling output.
    password_file = instance / DEMO_ACCOUNTS_FILE
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    for username, _role, _name in DEMO_STAFF:
        assert re.search(rf"^{username}\s+\S{{20}}$", password_file.read_text(), re.MULTILINE)
        assert not re.search(rf"\|\s+{username}\s+\S{{20}}\s+\|", output), output
    # The pointer to it comes after the worker's and the scheduler's start-up lines.
    pointer = output.index(f"one-time passwords are in {password_file}")
    assert output.index("Listening on") < pointer, output
    assert output.index("registering birth") < pointer, output
    assert "flask seed-demo-data" in output[pointer:]
    assert f"http://127.0.0.1:{port}/" in output
    assert f"sqlite:///{instance / 'cs_register.sqlite3'}" in output

    status, page = _get(f"{base}/login")
    assert status == 200
    assert 'name="password"' in page

    children = psutil.Process(process.pid).children(recursive=True)
    commands = [" ".join(child.cmdline()) for child in children]
    worker = [c for c, cmd in zip(children, commands, strict=True) if "rq.cli worker" in cmd]
    cron = [c for c, cmd in zip(children, commands, strict=True) if "jobs.cron" in cmd]
    assert worker, commands
    assert cron, commands
    assert all(child.is_running() for child in [*worker, *cron])
    # The worker found ffmpeg (on PATH already, or the bundled one linked into instance/bin).
    assert shutil.which("ffmpeg", path=worker[0].environ()["PATH"])

    # The cron scheduler enqueued the session purge at start-up and the worker ran it: JSON
    # payloads flow from scheduler to worker.
    _wait_for(lambda: "Job OK" in log.read_text(), "the first cron job to finish", process, log)

    redis_pid = int(re.search(r"embedded redis-server \(pid (\d+)\)", output).group(1))  # type: ignore[union-attr]
    redis_server = psutil.Process(redis_pid)
    assert "redis-server" in redis_server.name()

    _stop_and_check_nothing_is_left(process, log, [*children, redis_server])


@pytest.mark.slow
def test_python_app_py_uses_the_database_and_redis_it_is_given(
    start_stack: Callable[..., Stack], tmp_path: Path
) -> None:
    external = EmbeddedRedis(tmp_path / "external-redis")
    # Its dump (the job queue) is for this account alone.
    assert stat.S_IMODE((tmp_path / "external-redis" / "redis").stat().st_mode) == 0o700
    database_file = tmp_path / "given.sqlite3"
    try:
        process, log, port, instance = start_stack(
            DATABASE_URL=f"sqlite:///{database_file}", REDIS_URL=external.url
        )
        _wait_for(lambda: "Press Ctrl-C" in log.read_text(), "the summary", process, log)
        output = log.read_text()
        assert f"Redis:     {external.url}" in output
        assert "embedded redis-server" not in output
        assert f"sqlite:///{database_file}" in output
        assert not (instance / "cs_register.sqlite3").exists()
        assert _get(f"http://127.0.0.1:{port}/health")[0] == 200
        children = psutil.Process(process.pid).children(recursive=True)
        worker = next(c for c in children if "rq.cli worker" in " ".join(c.cmdline()))
        assert external.url in worker.cmdline()

        _stop_and_check_nothing_is_left(process, log, children)
        # Somebody else's Redis is left running.
        assert psutil.Process(external.pid).is_running()
    finally:
        external.stop()


def test_the_worker_listens_on_the_queue_jobs_are_enqueued_on() -> None:
    from cs_register import devstack
    from jobs.queue import QUEUE_NAME

    commands = devstack.child_commands("unix:///tmp/redis.sock")
    assert commands["worker"][-1] == QUEUE_NAME
    assert "rq.serializers.JSONSerializer" in commands["worker"]
    assert list(commands) == ["worker", "cron", "web"]
