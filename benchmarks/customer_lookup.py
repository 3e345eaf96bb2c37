"""Customer lookups as the register grows: the console's search against the raw indexed query.

For each size in `--sizes` (default 10,000, 100,000 and 1,000,000 customers, grown in place)
this script times, `--repeat` times each with a different existing customer:

- `customers.search.search_customers` by phone, email, identity code and name, each in its own
  unit of work as a console request has it (the search writes its audit row and commits);
- the raw indexed SQL query that answers the same question on the same database: equality on
  the phone, email or blind-index column, and for names a range on the folded name key
  (`name_key >= prefix AND name_key < prefix + U+FFFF`), which is what an index can serve.

It prints p50 and p99 in milliseconds, the ratio service/raw, and with `--chart` draws the
scaling curves (matplotlib, from requirements-bench.txt) into a PNG. It is a measurement, not
a test. Run it from the repository root:

    .venv/bin/python benchmarks/customer_lookup.py --chart docs/charts/customer_lookup_sqlite.png
    .venv/bin/python benchmarks/customer_lookup.py --db postgresql
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.purge_rate import throwaway_database  # noqa: E402
from cs_register.context import Context  # noqa: E402
from cs_register.crypto import Keyring  # noqa: E402
from cs_register.customers.search import search_customers  # noqa: E402
from cs_register.db import Base, Database  # noqa: E402
from cs_register.identifiers import search_key  # noqa: E402
from cs_register.permissions import Actor, ActorKind, Role  # noqa: E402

KINDS = ("phone", "email", "identity_code", "name")
CHUNK = 10_000
# The check characters of a henkilötunnus, indexed by the nine digits modulo 31 (public spec).
_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_FAMILY = [
    "Korhonen",
    "Virtanen",
    "Mäkinen",
    "Nieminen",
    "Mäkelä",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
    "Lehtinen",
    "Saarinen",
    "Salminen",
    "Heinonen",
    "Niemi",
    "Heikkilä",
    "Kinnunen",
    "Salonen",
    "Turunen",
    "Salo",
    "Laitinen",
    "Tuominen",
    "Rantanen",
    "Karjalainen",
    "Jokinen",
    "Mattila",
    "Savolainen",
    "Lahtinen",
    "Ahonen",
]
_GIVEN = [
    "Matti",
    "Maria",
    "Juha",
    "Helena",
    "Timo",
    "Johanna",
    "Kari",
    "Anna",
    "Mikko",
    "Kaarina",
    "Antti",
    "Marjatta",
    "Jari",
    "Liisa",
    "Jukka",
    "Sari",
    "Mika",
    "Tuula",
    "Markku",
    "Leena",
    "Pekka",
    "Tiina",
    "Hannu",
    "Anne",
    "Heikki",
    "Päivi",
    "Janne",
    "Riitta",
]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACTOR = Actor(kind=ActorKind.STAFF, audit_label="benchmark", role=Role.AGENT, is_active=True)


def identity_code(serial: int) -> str:
    """A valid code for customer `serial`: birth dates over 1940-1999, individual numbers
    002-899 (one birth date and number per serial up to about 19 million)."""
    day_index, individual = divmod(serial, 898)
    year = 40 + day_index // 336 % 60
    month = day_index // 28 % 12 + 1
    day = day_index % 28 + 1
    digits = f"{day:02d}{month:02d}{year:02d}{individual + 2:03d}"
    return f"{digits[:6]}-{digits[6:]}{_HETU_CHECK[int(digits) % 31]}"


def customer_row(serial: int, keyring: Keyring) -> dict[str, object]:
    family = _FAMILY[serial % len(_FAMILY)]
    given = _GIVEN[serial // len(_FAMILY) % len(_GIVEN)]
    public_id = f"00000000-0000-4000-8000-{serial:012d}"
    code = identity_code(serial)
    return {
        "public_id": public_id,
        "given_names": given,
        "family_name": f"{family}{serial}",
        "name_key_family_first": search_key(f"{family}{serial} {given}"),
        "name_key_given_first": search_key(f"{given} {family}{serial}"),
        "phone_e164": f"+35840{serial:07d}",
        "email": f"customer{serial}@example.fi",
        "identity_code_ciphertext": keyring.identity_code.encrypt(code, row_id=public_id),
        "identity_code_index": keyring.identity_code.blind_index(code),
        "identity_code_key_version": keyring.identity_code.current_version,
        "created_at": NOW,
        "updated_at": NOW,
    }


def grow(database: Database, keyring: Keyring, *, start: int, stop: int) -> None:
    """Insert customers with serials `start`..`stop - 1`, in chunks."""
    table = Base.metadata.tables["customers"]
    for first in range(start, stop, CHUNK):
        rows = [customer_row(serial, keyring) for serial in range(first, min(first + CHUNK, stop))]
        with database.engine.begin() as connection:
            connection.execute(sa.insert(table), rows)
    with database.engine.begin() as connection:
        connection.execute(sa.text("ANALYZE"))


def search_value(kind: str, serial: int) -> str:
    if kind == "phone":
        return f"040 {serial:07d}"
    if kind == "email":
        return f"customer{serial}@example.fi"
    if kind == "identity_code":
        return identity_code(serial)
    # An agent types the family name and the start of the given name.
    family = _FAMILY[serial % len(_FAMILY)]
    given = _GIVEN[serial // len(_FAMILY) % len(_GIVEN)]
    return f"{family}{serial} {given[:3]}"


RAW_QUERIES = {
    "phone": sa.text("SELECT id, public_id FROM customers WHERE phone_e164 = :value LIMIT 50"),
    "email": sa.text("SELECT id, public_id FROM customers WHERE email = :value LIMIT 50"),
    "identity_code": sa.text(
        "SELECT id, public_id FROM customers WHERE identity_code_index = :value LIMIT 50"
    ),
    "name": sa.text(
        "SELECT id, public_id FROM customers WHERE name_key_family_first >= :low"
        " AND name_key_family_first < :high ORDER BY name_key_family_first, id LIMIT 50"
    ),
}


def raw_parameters(kind: str, serial: int, keyring: Keyring) -> dict[str, object]:
    if kind == "phone":
        return {"value": f"+35840{serial:07d}"}
    if kind == "email":
        return {"value": f"customer{serial}@example.fi"}
    if kind == "identity_code":
        return {"value": keyring.identity_code.blind_index(identity_code(serial))}
    prefix = search_key(search_value("name", serial))
    return {"low": prefix, "high": prefix + "\uffff"}


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def measure(
    database: Database, keyring: Keyring, *, size: int, repeat: int, seed: int
) -> dict[str, dict[str, float]]:
    # Which existing customers to look up; not a secret.
    chosen = random.Random(seed).sample(range(size), repeat)  # noqa: S311
    figures: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        query = RAW_QUERIES[kind]

        def service(serial: int, kind: str = kind) -> None:
            with database.unit_of_work() as session:
                found = search_customers(
                    Context(session=session, actor=ACTOR, now=NOW),
                    keyring,
                    kind=kind,
                    value=search_value(kind, serial),
                )
                if not found:
                    raise RuntimeError(f"{kind} search found nobody")

        def raw(serial: int, kind: str = kind, query: sa.TextClause = query) -> None:
            with database.engine.connect() as connection:
                rows = connection.execute(query, raw_parameters(kind, serial, keyring)).all()
                if not rows:
                    raise RuntimeError(f"raw {kind} query found nobody")

        service(chosen[0])  # warm-up
        raw(chosen[0])
        service_ms = [timed(lambda serial=serial: service(serial)) for serial in chosen]
        raw_ms = [timed(lambda serial=serial: raw(serial)) for serial in chosen]
        service_p50, service_p99 = percentiles(service_ms)
        raw_p50, raw_p99 = percentiles(raw_ms)
        figures[kind] = {
            "service_p50": service_p50,
            "service_p99": service_p99,
            "raw_p50": raw_p50,
            "raw_p99": raw_p99,
        }
        print(
            f"{size:>9,}  {kind:<13}  search p50 {service_p50:8.2f} ms  p99 {service_p99:8.2f} ms"
            f"   raw p50 {raw_p50:6.2f} ms  p99 {raw_p99:6.2f} ms"
            f"   p50 ratio {service_p50 / raw_p50:7.1f}",
            flush=True,
        )
    return figures


def scaling_chart() -> tuple[Any, Any]:
    """A figure and axes for a latency-against-size chart (matplotlib without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4.2))


def save_scaling_chart(figure: Any, axes: Any, path: Path, *, ylabel: str, title: str) -> None:
    """Log-log axes, labels, grid and legend as every scaling chart has them; written to
    `path` as a PNG."""
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("customers")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def draw(results: dict[int, dict[str, dict[str, float]]], path: Path, title: str) -> None:
    sizes = sorted(results)
    figure, axes = scaling_chart()
    for kind in KINDS:
        line = axes.plot(sizes, [results[s][kind]["service_p50"] for s in sizes], marker="o")
        axes.plot(
            sizes,
            [results[s][kind]["raw_p50"] for s in sizes],
            marker="x",
            linestyle="--",
            color=line[0].get_color(),
        )
        line[0].set_label(f"{kind} (search; dashed: raw SQL)")
    save_scaling_chart(figure, axes, path, ylabel="p50 latency, ms", title=title)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chart", type=Path, help="write the scaling curves to this PNG")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    arguments = parser.parse_args()
    sizes = sorted(int(size) for size in arguments.sizes.split(","))
    keyring = Keyring(encryption_key=b"b" * 32, index_key=b"i" * 32)
    results: dict[int, dict[str, dict[str, float]]] = {}
    with (
        tempfile.TemporaryDirectory() as folder,
        throwaway_database(arguments.db, Path(folder)) as database,
    ):
        stored = 0
        for size in sizes:
            started = time.perf_counter()
            grow(database, keyring, start=stored, stop=size)
            print(
                f"grew to {size:,} customers in {time.perf_counter() - started:.0f} s", flush=True
            )
            stored = size
            repeat = min(arguments.repeat, size)
            results[size] = measure(
                database, keyring, size=size, repeat=repeat, seed=arguments.seed
            )
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
    if arguments.chart:
        draw(results, arguments.chart, f"Customer lookups ({arguments.db})")


if __name__ == "__main__":
    main()
