"""Signed chatbot webhooks per second through gunicorn, against a bare Flask endpoint.

The script:

1. prepares a throw-away deployment in a temporary folder (SQLite, or with
   `--database postgresql` a local throw-away cluster with fsync and synchronous commit on;
   the schema created from the models; one webhook secret from the real service),
2. starts gunicorn on 127.0.0.1 twice with the SAME configuration (`--workers/--threads`, sync
   workers by default): once with the application (`app:create_app()`), once with a bare Flask
   app whose only endpoint parses the JSON body and answers 201 with a small JSON object,
3. for each, finds the maximum throughput with a closed loop (`--connections` keep-alive
   clients in `--client-processes` processes send as fast as answers come back, for
   `--seconds`), then measures latency in an open loop paced at half of the application's
   maximum rate: every request has a scheduled send time and its latency is counted from that
   time, so a stalled server cannot hide queueing delay (no coordinated omission).

Every request is a real, uniquely identified, correctly signed Standard Webhooks delivery; the
bare endpoint receives exactly the same requests. Loopback only; bounded by time. It is a
measurement, not a test. Run from the repository root:

    .venv/bin/python benchmarks/webhook_throughput.py
    .venv/bin/python benchmarks/webhook_throughput.py --seconds 20 --workers 2 --threads 1
    .venv/bin/python benchmarks/webhook_throughput.py --database postgresql
    .venv/bin/python benchmarks/webhook_throughput.py --with-raw   # + benchmarks/raw_webhook.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from benchmarks.raw_webhook import RAW_PATH  # noqa: E402 - after the path set-up
from tests.cs_register.intake.signing import sign  # noqa: E402

CHATBOT_PATH = "/api/v1/intake/chatbot"
BARE_PATH = "/webhook"


def create_bare_app() -> Any:
    """The comparison: a Flask endpoint that parses the JSON body and answers 201."""
    from flask import Flask, jsonify, request

    bare = Flask("bare")

    @bare.post(BARE_PATH)
    def webhook() -> Any:
        payload = request.get_json()
        return jsonify({"received": bool(payload)}), 201

    return bare


def conversation(now: datetime) -> bytes:
    """A realistic conversation of a few turns with a unique id (about 1 KB of JSON)."""
    body = {
        "conversation_id": f"bench-{uuid.uuid4()}",
        "started_at": now.isoformat(),
        "ended_at": now.isoformat(),
        "customer": {"name": "Benchmark Asiakas", "email": "bench@example.fi"},
        "language": "fi",
        "summary": "Asiakas kysyi laskun eräpäivästä ja sai vastauksen.",
        "transcript": [
            {"speaker": "customer", "text": "Hei, milloin laskuni eräpäivä on?"},
            {"speaker": "bot", "text": "Eräpäivä näkyy laskun oikeassa yläkulmassa."},
            {"speaker": "customer", "text": "Kiitos, löytyi."},
            {"speaker": "bot", "text": "Hienoa! Voinko auttaa vielä jossain?"},
        ],
        "handover": False,
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _signed_request(secret: str) -> tuple[bytes, dict[str, str]]:
    now = datetime.now(UTC)
    body = conversation(now)
    headers = sign(secret, body, webhook_id=f"msg_{uuid.uuid4().hex}", timestamp=int(time.time()))
    headers["Content-Type"] = "application/json"
    return body, headers


@dataclass(frozen=True)
class ClientJob:
    port: int
    path: str
    secret: str
    connections: int
    seconds: float
    # None: closed loop (as fast as possible). Otherwise requests/second for this process.
    rate: float | None


def _client_process(job: ClientJob) -> tuple[int, int, list[float]]:
    """Runs `job.connections` keep-alive connections in threads; (ok, failed, latencies s)."""
    import threading

    ok = failed = 0
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + job.seconds
    interval = job.connections / job.rate if job.rate else 0.0

    def run(index: int) -> None:
        nonlocal ok, failed
        connection = http.client.HTTPConnection("127.0.0.1", job.port, timeout=30)
        # Open-loop schedule: connection i sends at start + i*interval/connections + k*interval.
        scheduled = start + index * interval / job.connections
        mine: list[float] = []
        my_ok = my_failed = 0
        while True:
            if job.rate:
                if scheduled >= deadline:
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent_at = scheduled
                scheduled += interval
            else:
                sent_at = time.perf_counter()
                if sent_at >= deadline:
                    break
            body, headers = _signed_request(job.secret)
            try:
                connection.request("POST", job.path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                good = response.status in (200, 201)
            except (OSError, http.client.HTTPException):
                connection.close()
                good = False
            mine.append(time.perf_counter() - sent_at)
            if good:
                my_ok += 1
            else:
                my_failed += 1
        connection.close()
        with lock:
            ok += my_ok
            failed += my_failed
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(job.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ok, failed, latencies


@dataclass(frozen=True)
class Measurement:
    ok: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def measure(
    port: int,
    path: str,
    secret: str,
    *,
    processes: int,
    connections: int,
    seconds: float,
    total_rate: float | None,
) -> Measurement:
    per_process = max(1, connections // processes)
    job = ClientJob(
        port=port,
        path=path,
        secret=secret,
        connections=per_process,
        seconds=seconds,
        rate=total_rate / processes if total_rate else None,
    )
    with multiprocessing.Pool(processes) as pool:
        results = pool.map(_client_process, [job] * processes)
    return Measurement(
        ok=sum(r[0] for r in results),
        failed=sum(r[1] for r in results),
        seconds=seconds,
        latencies=[value for r in results for value in r[2]],
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up; see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start within 30 s")


@contextmanager
def gunicorn(
    app_spec: str, env: dict[str, str], log: Path, *, workers: int, threads: int
) -> Iterator[int]:
    port = _free_port()
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread" if threads > 1 else "sync",
        "--pythonpath", f"{REPOSITORY},{REPOSITORY / 'benchmarks'}",
        "--log-level", "warning",
        app_spec,
    ]  # fmt: skip
    with log.open("ab") as log_file:
        server = subprocess.Popen(
            command, cwd=REPOSITORY, env=env, stdout=log_file, stderr=log_file
        )
        try:
            _wait_for(port, server)
            yield port
        finally:
            server.terminate()
            server.wait(timeout=30)


def prepare_deployment(
    instance: Path, database_url: str | None = None
) -> tuple[dict[str, str], str]:
    """Environment of a throw-away deployment and its webhook secret (SQLite by default)."""
    env = {
        **os.environ,
        "CS_ENV": "development",
        "CS_INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url or f"sqlite:///{instance / 'bench.sqlite3'}",
    }
    script = (
        "import sys\n"
        "from app import create_app\n"
        "from cs_register import models\n"
        "from cs_register.db import Base, get_database, utcnow\n"
        "from cs_register.context import Context\n"
        "from cs_register.integrations.webhooks import create_webhook_secret\n"
        "from cs_register.permissions import Actor\n"
        "app = create_app()\n"
        "database = get_database(app)\n"
        # The schema straight from the models: the benchmark does not depend on migrations.
        "Base.metadata.create_all(database.engine)\n"
        "with database.unit_of_work() as session:\n"
        "    ctx = Context(session=session, actor=Actor.deployment(), now=utcnow())\n"
        "    _, secret = create_webhook_secret(ctx, app.extensions['cs_register.keyring'],"
        " name='bench')\n"
        "print(secret)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return env, result.stdout.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help=">1 uses gthread workers")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="postgresql: a throw-away local cluster with fsync and synchronous commit on",
    )
    parser.add_argument(
        "--with-raw",
        action="store_true",
        help="SQLite only: also measure the hand-written handler of raw_webhook.py, with"
        " PRAGMA synchronous FULL (the product's setting) and NORMAL",
    )
    args = parser.parse_args()
    if args.with_raw and args.database != "sqlite":
        parser.error("--with-raw measures SQLite only")

    with ExitStack() as stack:
        database_url = None
        if args.database == "postgresql":
            from tests.support.postgres import throwaway_cluster

            database_url = stack.enter_context(throwaway_cluster(durable=True))
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="webhook-bench-"))
        instance = Path(folder)
        env, secret = prepare_deployment(instance, database_url)
        log = instance / "gunicorn.log"
        common = {"processes": args.client_processes, "connections": args.connections}
        print(f"{args.database}; gunicorn: {args.workers} workers x {args.threads} threads; "
              f"{args.connections} connections from {args.client_processes} client processes; "
              f"{args.seconds:.0f} s per measurement")  # fmt: skip

        with gunicorn(
            "webhook_throughput:create_bare_app()", env, log,
            workers=args.workers, threads=args.threads,
        ) as port:  # fmt: skip
            measure(port, BARE_PATH, secret, **common, seconds=2, total_rate=None)  # warm-up
            bare = measure(port, BARE_PATH, secret, **common, seconds=args.seconds, total_rate=None)

        with gunicorn(
            "app:create_app()", env, log, workers=args.workers, threads=args.threads
        ) as port:
            measure(port, CHATBOT_PATH, secret, **common, seconds=2, total_rate=None)  # warm-up
            app_max = measure(
                port, CHATBOT_PATH, secret, **common, seconds=args.seconds, total_rate=None
            )
            half = app_max.rate / 2
            paced = measure(
                port, CHATBOT_PATH, secret, **common, seconds=args.seconds, total_rate=half
            )

        raw: list[tuple[str, Measurement]] = []
        if args.with_raw:
            database_file = str(instance / "bench.sqlite3")
            for synchronous in ("FULL", "NORMAL"):
                spec = f"raw_webhook:create_raw_app({database_file!r}, {secret!r}, {synchronous!r})"
                with gunicorn(
                    spec, env, log, workers=args.workers, threads=args.threads
                ) as port:  # fmt: skip
                    measure(port, RAW_PATH, secret, **common, seconds=2, total_rate=None)
                    raw.append((
                        f"raw {synchronous.lower()}",
                        measure(port, RAW_PATH, secret, **common, seconds=args.seconds,
                                total_rate=None),
                    ))  # fmt: skip

        results = [("bare", bare), ("app max", app_max), ("app @half", paced), *raw]
        for name, result in results:
            print(
                f"{name:>10}: {result.rate:8.1f} req/s  ok {result.ok} failed {result.failed}  "
                f"p50 {result.percentile(0.5):6.1f} ms  p99 {result.percentile(0.99):6.1f} ms"
            )
        print(f"ratio app/bare: {app_max.rate / bare.rate:.1%} (target >= 35%)")
        for name, result in raw:
            print(f"ratio {name}/bare: {result.rate / bare.rate:.1%}")
        print(
            f"at {half:.0f} req/s (half of max): p50 {paced.percentile(0.5):.1f} ms, "
            f"p99 {paced.percentile(0.99):.1f} ms, mean "
            f"{statistics.fmean(paced.latencies) * 1000:.1f} ms (target p99 < 25 ms)"
        )
        if any(result.failed for _, result in results):
            print("Some requests failed; the server log ends with:", file=sys.stderr)
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
