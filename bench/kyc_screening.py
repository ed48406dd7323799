"""Sanctions screening speed: parse an SDN file, build the matcher, screen names.

Generates an SDN-layout file of N individuals (default 12,000, above the ~7,000 individuals of
the real OFAC list) with DOBs and aliases, then times:
  * parsing it (apps.kyc.screening.parse_sdn),
  * building the matcher (name normalisation for every name and alias),
  * screening 500 client names (half near-variants of listed names, half unrelated).
No database: this is the pure matching core the screening task runs.

    .venv/bin/python bench/kyc_screening.py [N]
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faker import Faker

from apps.kyc import screening

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def sdn_file(count: int, fake: Faker, rng: random.Random) -> tuple[str, list[tuple[str, dt.date]]]:
    lines, people = [], []
    for ent_num in range(1, count + 1):
        first, last = fake.first_name(), fake.last_name()
        born = dt.date(rng.randint(1940, 2000), rng.randint(1, 12), rng.randint(1, 28))
        alias = f"{fake.last_name().upper()}, {first}"
        remarks = (
            f"DOB {born.day:02d} {MONTHS[born.month - 1]} {born.year}; "
            f"POB {fake.city()}; a.k.a. '{alias}'."
        )
        lines.append(
            f'{ent_num},"{last.upper()}, {first}","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,'
            f'-0- ,-0- ,"{remarks}"'
        )
        people.append((f"{first} {last}", born))
    return "\n".join(lines) + "\n", people


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 12_000
    fake, rng = Faker(["en_US", "es_ES", "de_DE", "tr_TR"]), random.Random(7)
    Faker.seed(7)
    text, people = sdn_file(count, fake, rng)

    started = time.perf_counter()
    records = list(screening.parse_sdn(text))
    parsed = time.perf_counter() - started

    started = time.perf_counter()
    matcher = screening.Matcher(
        screening.Candidate(
            key=str(r.ent_num), names=(r.name, *r.aliases), birth_dates=tuple(r.birth_dates)
        )
        for r in records
    )
    built = time.perf_counter() - started

    queries = []
    for name, born in rng.sample(people, 250):
        first, last = name.split(" ", 1)
        queries.append((f"{last}, {first[:-1] + 'y'}", born))  # order and spelling changed
    queries += [(fake.name(), dt.date(1980, 1, 1)) for _ in range(250)]
    timings, hits = [], [0, 0]
    for index, (name, born) in enumerate(queries):
        started = time.perf_counter()
        found = matcher.match(name, born, threshold=85)
        timings.append(time.perf_counter() - started)
        hits[index >= 250] += bool(found)
    timings.sort()
    print(f"entries: {len(records)} individuals, {len(matcher._names)} names with aliases")
    print(f"parse: {parsed * 1000:.0f} ms; build matcher: {built * 1000:.0f} ms")
    print(
        f"screen one name: median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {timings[int(len(timings) * 0.95)] * 1000:.1f} ms, "
        f"max {timings[-1] * 1000:.1f} ms over {len(timings)} names"
    )
    print(
        f"possible matches: {hits[0]} of 250 near-variants of listed people (surname first, "
        f"last letter of the first name changed); {hits[1]} of 250 unrelated names"
    )


if __name__ == "__main__":
    main()
