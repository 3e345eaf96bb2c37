"""The console's customer search and customer page through gunicorn, as the register grows.

For each size in `--sizes` (default 10,000, 100,000 and 1,000,000 customers, grown in place in
one throw-away database) this script:

1. grows the database with the synthetic customers of `customer_lookup.py` (its `grow`: valid
   identity codes encrypted and blind-indexed with the deployment's keys, `ANALYZE` after;
   on PostgreSQL `VACUUM (ANALYZE)` too, so autovacuum does not run during the timing);
   the schema comes from the migrations (`flask db upgrade`), the agent from
   `flask users create --role agent` (one new agent per size);
2. starts gunicorn on 127.0.0.1 with `deploy/gunicorn.conf.py` (sync workers, preloaded app,
   access log), `--workers` of them;
3. logs the agent in over HTTP as a browser does: the login form with its CSRF token, then the
   two-step enrolment (the secret read from the enrolment page, the code computed with pyotp);
4. measures, `--repeat` times each with a different existing customer, the latency of:
   - the console's search, one per kind (phone, email, identity code, name): a POST of the
     dashboard's form (`kind=any`, as the one search box sends it) and the GET of the results
     page its 303 names (POST/redirect/GET), checked to list the customer;
   - the customer page (`GET /customers/<public_id>`), checked to be that customer's;
   - baselines through the same gunicorn: `GET /healthz` (no session, no database) and
     `GET /customers`, the dashboard without a search (the same login check, session row
     and page layout as a search);
   - the raw indexed SQL query for each kind (customer_lookup's `RAW_QUERIES`) and for the
     page (`public_id` equality), on a pooled connection of this process.
   The kinds are interleaved request by request, so load from elsewhere on the machine falls
   on all of them alike. One client, one request at a time, a new connection per request (sync
   workers close it after each answer); loopback only.

It prints p50/p99 per size and kind, the ratios to the same-run baselines, and with `--chart`
draws the scaling curves. `--profile N` profiles (cProfile) N rounds of the same requests at the
largest size in-process (Flask's test client, same database and settings), and prints where the
time goes. `--max-minutes` bounds the whole run: sizes not reached are reported as skipped.

It is a measurement, not a test. Run from the repository root:

    .venv/bin/python benchmarks/console_pages.py --chart docs/charts/console_pages_sqlite.png
    .venv/bin/python benchmarks/console_pages.py --db postgresql --sizes 10000,1000000
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import http.client
import io
import json
import os
import pstats
import random
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

import pyotp
import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.customer_lookup import (  # noqa: E402 - after the path set-up
    KINDS,
    RAW_QUERIES,
    grow,
    percentiles,
    raw_parameters,
    save_scaling_chart,
    scaling_chart,
    search_value,
)
from cs_register.crypto import Keyring  # noqa: E402
from cs_register.db import READ_ONLY_OPTION, Database  # noqa: E402

ENCRYPTION_KEY = b"b" * 32
INDEX_KEY = b"i" * 32
PASSWORD = "benchmark-agent-password-1"  # noqa: S105 - a throw-away account
PAGE = "page"
BASELINES = ("healthz", "dashboard")
ENDPOINTS = (*BASELINES, *KINDS, PAGE)
RAW_PAGE = sa.text("SELECT * FROM customers WHERE public_id = :value")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TOTP_SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')


def public_id(serial: int) -> str:
    """customer_lookup's public id for customer `serial`."""
    return f"00000000-0000-4000-8000-{serial:012d}"


def _key(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


# --- a browser: real HTTP to gunicorn, or Flask's test client for the in-process profile ----


class Browser(Protocol):
    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        """(status, Location header, body)"""
        ...


class HttpBrowser:
    """One user's browser: a cookie jar and a new connection per request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        body = None
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                value = rest.split(";", 1)[0]
                if value and "Max-Age=0" not in header and "expires=Thu, 01 Jan 1970" not in header:
                    self.cookies[name.strip()] = value
                else:
                    self.cookies.pop(name.strip(), None)
            return response.status, response.headers.get("Location", ""), text
        finally:
            connection.close()


class TestClientBrowser:
    def __init__(self, app: Any) -> None:
        self.client = app.test_client()

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, str, str]:
        response = self.client.open(path, method=method, data=form)
        return response.status_code, response.headers.get("Location", ""), response.text


def _csrf(page: str) -> str:
    found = _CSRF.search(page)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def log_in(browser: Browser, username: str) -> str:
    """The login form, then the two-step enrolment; the dashboard's CSRF token."""
    status, _, page = browser.request("GET", "/login")
    form = {"username": username, "password": PASSWORD, "csrf_token": _csrf(page)}
    status, location, _ = browser.request("POST", "/login", form)
    if status != 302 or not location.endswith("/login/enrol"):
        raise RuntimeError(f"login: {status} -> {location!r}")
    status, _, page = browser.request("GET", "/login/enrol")
    secret = _TOTP_SECRET.search(page)
    if status != 200 or not secret:
        raise RuntimeError(f"enrolment page: {status}")
    code = pyotp.TOTP(secret.group(1)).now()
    status, _, page = browser.request(
        "POST", "/login/enrol", {"code": code, "csrf_token": _csrf(page)}
    )
    if status != 200 or "recovery" not in page.lower():
        raise RuntimeError(f"enrolment: {status}")
    status, _, page = browser.request("GET", "/customers")
    if status != 200:
        raise RuntimeError(f"dashboard after login: {status}")
    return _csrf(page)


def console_request(browser: Browser, token: str, endpoint: str, serial: int) -> None:
    """One request of `endpoint` for customer `serial`, checked; raises if the answer is wrong."""
    if endpoint == "healthz":
        status, _, body = browser.request("GET", "/healthz")
        expected = ""
    elif endpoint == "dashboard":
        status, _, body = browser.request("GET", "/customers")
        expected = "Find a customer"
    elif endpoint == PAGE:
        status, _, body = browser.request("GET", f"/customers/{public_id(serial)}")
        expected = f"customer{serial}@example.fi"
    else:
        form = {"csrf_token": token, "kind": "any", "value": search_value(endpoint, serial)}
        # POST/redirect/GET, as a browser does it: the POST keeps the search and answers 303,
        # the results page is the GET it names by a token.
        status, location, body = browser.request("POST", "/customers/search", form)
        if status == 303:
            status, _, body = browser.request("GET", location)
        expected = public_id(serial)
    if status != 200 or expected not in body:
        raise RuntimeError(f"{endpoint} for customer {serial}: {status}")


# --- the deployment --------------------------------------------------------------------------


def deployment_env(instance: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CS_ENV": "development",
        "CS_INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATA_ENCRYPTION_KEY": _key(ENCRYPTION_KEY),
        "BLIND_INDEX_KEY": _key(INDEX_KEY),
        "TWO_STEP_LOGIN": "required",
        # The checks below read the English pages (the language does not change the work).
        "DEFAULT_LANGUAGE": "en",
    }


def flask_command(env: dict[str, str], *arguments: str, stdin: str | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *arguments],
        cwd=PROJECT_ROOT, env=env, input=stdin, text=True, check=True, capture_output=True,
    )  # fmt: skip


def create_agent(env: dict[str, str], username: str) -> None:
    flask_command(env, "users", "create", username, "--role", "agent", "--password-stdin",
                  stdin=PASSWORD + "\n")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], log: Path, *, workers: int) -> Iterator[int]:
    """gunicorn with the deployment's configuration file, on a free loopback port."""
    port = _free_port()
    server_env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    command = [
        sys.executable, "-m", "gunicorn", "-c", str(PROJECT_ROOT / "deploy" / "gunicorn.conf.py"),
        "app:create_app()",
    ]  # fmt: skip
    with log.open("ab") as log_file:
        server = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=server_env, stdout=log_file, stderr=log_file
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"gunicorn exited during start-up; see {log}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("gunicorn did not start within 60 s") from None
                    time.sleep(0.1)
            yield port
        finally:
            server.terminate()
            server.wait(timeout=60)


@contextmanager
def throwaway_url(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
        return
    from tests.support.postgres import throwaway_cluster

    with throwaway_cluster(durable=True) as url:
        yield url


# --- measuring -------------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def measure(
    browser: Browser,
    token: str,
    database: Database,
    keyring: Keyring,
    *,
    size: int,
    repeat: int,
    seed: int,
) -> dict[str, dict[str, float]]:
    # Which existing customers to look up; not a secret.
    chosen = random.Random(seed).sample(range(size), repeat + 10)  # noqa: S311
    warm_up, chosen = chosen[:10], chosen[10:]
    samples: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
    raw: dict[str, list[float]] = {name: [] for name in (*KINDS, PAGE)}

    # A reading connection (on SQLite it takes no writer's turn), as a lookup needs.
    reader = database.engine.execution_options(**{READ_ONLY_OPTION: True})

    def raw_query(name: str, serial: int) -> None:
        with reader.connect() as connection:
            if name == PAGE:
                rows = connection.execute(RAW_PAGE, {"value": public_id(serial)}).all()
            else:
                rows = connection.execute(
                    RAW_QUERIES[name], raw_parameters(name, serial, keyring)
                ).all()
        if not rows:
            raise RuntimeError(f"raw {name} query found nobody")

    for serial in warm_up:
        for name in ENDPOINTS:
            console_request(browser, token, name, serial)
        for name in raw:
            raw_query(name, serial)
    started = time.perf_counter()
    slowest: list[tuple[float, str, int, float]] = []  # (ms, endpoint, round, seconds in)
    for index, serial in enumerate(chosen):
        for name in ENDPOINTS:
            at = time.perf_counter() - started
            took = timed(lambda: console_request(browser, token, name, serial))  # noqa: B023
            samples[name].append(took)
            slowest = sorted([*slowest, (took, name, index, at)], reverse=True)[:8]
        for name in raw:
            raw[name].append(timed(lambda: raw_query(name, serial)))  # noqa: B023
    print("slowest requests: " + ", ".join(
        f"{name} {took:.1f} ms (round {index}, {at:.1f} s in)" for took, name, index, at in slowest
    ), flush=True)  # fmt: skip
    figures: dict[str, dict[str, float]] = {}
    for name in ENDPOINTS:
        p50, p99 = percentiles(samples[name])
        figures[name] = {"p50": p50, "p99": p99, "max": max(samples[name])}
        if name in raw:
            raw_p50, raw_p99 = percentiles(raw[name])
            figures[name] |= {"raw_p50": raw_p50, "raw_p99": raw_p99}
    return figures


def report(size: int, figures: dict[str, dict[str, float]]) -> None:
    healthz = figures["healthz"]["p50"]
    dashboard = figures["dashboard"]["p50"]
    for name in ENDPOINTS:
        row = figures[name]
        line = (
            f"{size:>9,}  {name:<13}  p50 {row['p50']:7.2f} ms  p99 {row['p99']:7.2f} ms"
            f"  max {row['max']:7.2f} ms  p50 / healthz {row['p50'] / healthz:5.1f}"
            f"  / dashboard {row['p50'] / dashboard:4.2f}"
        )
        if "raw_p50" in row:
            line += f"  raw p50 {row['raw_p50']:5.2f} ms p99 {row['raw_p99']:5.2f} ms"
        print(line, flush=True)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _in_process_app(env: dict[str, str]) -> Any:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        from app import create_app

        return create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def profile_in_process(
    env: dict[str, str], log: Path, username: str, *, size: int, rounds: int, seed: int
) -> None:
    """cProfile over `rounds` rounds of the console requests, in this process (test client)."""
    # The app's log lines go where a worker's go: to a file (gunicorn's log).
    with log.open("a") as app_log, contextlib.redirect_stderr(app_log):
        app = _in_process_app(env)
        browser = TestClientBrowser(app)
        token = log_in(browser, username)
        chosen = random.Random(seed + 1).sample(range(size), rounds + 10)  # noqa: S311
        names = (*KINDS, PAGE, "dashboard")
        for serial in chosen[:10]:
            for name in names:
                console_request(browser, token, name, serial)
        unprofiled: dict[str, list[float]] = {name: [] for name in names}
        for serial in chosen[10:]:
            for name in names:
                unprofiled[name].append(
                    timed(lambda: console_request(browser, token, name, serial))  # noqa: B023
                )
        profiles = {name: cProfile.Profile() for name in ("searches", PAGE, "dashboard")}
        for serial in chosen[10:]:
            for name in names:
                profiler = profiles[name if name in profiles else "searches"]
                profiler.enable()
                console_request(browser, token, name, serial)
                profiler.disable()
    print(f"\nin-process (test client, no HTTP, no profiler) at {size:,}, {rounds} rounds:")
    for name in names:
        p50, p99 = percentiles(unprofiled[name])
        print(f"  {name:<13}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
    for name, profiler in profiles.items():
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(40)
            print(f"\ncProfile of {name} ({rounds} rounds), by {order}:")
            print(out.getvalue())


def draw(results: dict[int, dict[str, dict[str, float]]], path: Path, title: str) -> None:
    sizes = sorted(results)
    figure, axes = scaling_chart()
    for name in ENDPOINTS:
        style = "--" if name in BASELINES else "-"
        axes.plot(
            sizes, [results[s][name]["p99"] for s in sizes], marker="o", linestyle=style,
            label=f"{name}{' (baseline)' if name in BASELINES else ''}",
        )  # fmt: skip
    axes.axhline(50, color="grey", linewidth=0.8, linestyle=":", label="target p99 50 ms")
    save_scaling_chart(figure, axes, path, ylabel="p99 latency through gunicorn, ms", title=title)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=500, help="requests per kind and size")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-minutes", type=float, default=90, help="bound on the whole run")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="ROUNDS",
        help="cProfile this many rounds in-process at the largest size",
    )  # fmt: skip
    parser.add_argument("--chart", type=Path, help="write the p99 scaling curves to this PNG")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="print and keep the work folder")
    arguments = parser.parse_args()
    sizes = sorted(int(size) for size in arguments.sizes.split(","))
    deadline = time.monotonic() + arguments.max_minutes * 60
    keyring = Keyring(encryption_key=ENCRYPTION_KEY, index_key=INDEX_KEY)
    results: dict[int, dict[str, dict[str, float]]] = {}
    with ExitStack() as stack:
        folder = Path(
            tempfile.mkdtemp(prefix="console-bench-")
            if arguments.keep
            else stack.enter_context(tempfile.TemporaryDirectory(prefix="console-bench-"))
        )
        if arguments.keep:
            print(f"work folder: {folder}")
        url = stack.enter_context(throwaway_url(arguments.db, folder))
        env = deployment_env(folder / "instance", url)
        flask_command(env, "db", "upgrade")
        database = Database(url)
        stack.callback(database.dispose)
        log = folder / "gunicorn.log"
        print(f"{arguments.db}; gunicorn -c deploy/gunicorn.conf.py, {arguments.workers} sync "
              f"workers; {arguments.repeat} requests per kind and size", flush=True)  # fmt: skip
        stored = 0
        username = ""
        for size in sizes:
            if time.monotonic() > deadline:
                print(f"{size:>9,}  skipped: --max-minutes reached", flush=True)
                continue
            started = time.perf_counter()
            grow(database, keyring, start=stored, stop=size)
            stored = size
            if arguments.db == "postgresql":
                # Vacuumed now, so autovacuum does not visit the new rows during the timing.
                with database.engine.connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT")
                    connection.exec_driver_sql("VACUUM (ANALYZE) customers")
            print(f"grew to {size:,} customers in {time.perf_counter() - started:.0f} s",
                  flush=True)  # fmt: skip
            username = f"bench-agent-{size}"
            create_agent(env, username)
            with gunicorn(env, log, workers=arguments.workers) as port:
                browser = HttpBrowser(port)
                token = log_in(browser, username)
                before = load_average()
                results[size] = measure(
                    browser, token, database, keyring,
                    size=size, repeat=min(arguments.repeat, size - 10), seed=arguments.seed,
                )  # fmt: skip
                print(f"load average before / after: {before} / {load_average()}", flush=True)
            report(size, results[size])
        if arguments.profile and results:
            largest = max(results)
            username = f"bench-agent-{largest}-profile"
            create_agent(env, username)
            profile_in_process(
                env, log, username, size=largest, rounds=arguments.profile, seed=arguments.seed
            )
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
    if arguments.chart and results:
        draw(results, arguments.chart, f"Console search and customer page ({arguments.db})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
