"""How long a legacy login waits while phase 01's merge runs (issue 21, item 8; decisions 1.33).

    .venv/bin/cqms-migrate db start
    .venv/bin/cqms-migrate legacy seed --replace --people 50000 --audits 20000 --scorecards 6
    .venv/bin/python tools/merge_stall.py

Deploys phase 01 up to merge_employees on the local database, then runs the merge while one
connection logs a random person in every 10 ms (people: login_count + 1, last_login), and prints
the merge's duration and the logins' latency during it; then the same for the merge's revert. Changes the local database: re-seed after.
"""

from __future__ import annotations

import random
import statistics
import threading
import time

import psycopg

from cqms_migrate import phases
from cqms_migrate.context import PhaseContext
from cqms_migrate.phases import p01_foundation as p1


def main() -> None:
    with PhaseContext(p1.PHASE, env="local") as ctx:
        url, password = ctx.conn.info.dsn, ctx.conn.info.password
        before = p1.BUILD_STEPS[:p1.BUILD_STEPS.index("merge_employees")]
        phases.deploy(ctx, [s for s in p1.steps(ctx) if s.name in before])
    with psycopg.connect(url, password=password) as c:
        emails = [r[0] for r in c.execute("SELECT email FROM public.people WHERE email LIKE '%@%.%' LIMIT 2000")]
    stop, latencies = threading.Event(), []

    def login() -> None:
        rng = random.Random(1)
        with psycopg.connect(url, password=password, autocommit=True) as c:
            while not stop.is_set():
                t0 = time.perf_counter()
                c.execute("UPDATE public.people SET login_count = coalesce(login_count, 0) + 1, last_login = now() "
                          "WHERE email = %s", (rng.choice(emails),))
                latencies.append((time.time() - (time.perf_counter() - t0), time.time(), time.perf_counter() - t0))
                time.sleep(0.01)

    writer = threading.Thread(target=login)
    writer.start()
    time.sleep(1.0)

    def timed(label: str, run) -> None:
        t0 = time.time()
        with PhaseContext(p1.PHASE, env="local") as ctx:
            run(ctx, [s for s in p1.steps(ctx) if s.name == "merge_employees"])
        t1 = time.time()
        time.sleep(0.5)
        during = sorted(s for start, end, s in latencies if start <= t1 and end >= t0)   # overlapping it
        print(f"{label} {t1 - t0:.1f} s; logins during it {len(during)}; median "
              f"{statistics.median(during) * 1000:.1f} ms; p95 {during[int(len(during) * 0.95)] * 1000:.1f} ms; "
              f"max {during[-1] * 1000:.0f} ms")

    try:
        timed("merge", phases.deploy)
        timed("revert of the merge", phases.revert)
    finally:
        stop.set()
        writer.join()


if __name__ == "__main__":
    main()
