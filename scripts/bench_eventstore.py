"""Event store benchmark: append (durable and batched), replay, CLI start-up.

    python scripts/bench_eventstore.py --events 1000000 --db /tmp/bench.db

Prints one JSON object. Event mixes come from ``autopack_core.scenarios`` and
are checked by the real run/phase machines (``RunSession``) as they are
recorded. Raw SQLite figures insert the very same rows (payload and hash
precomputed) into the same schema with the same pragmas and transaction sizes,
in the same process run, so the ratio is what Autopack's own code costs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autopack_core.plugins import load_plugins
from autopack_core.projections import fold_run
from autopack_core.scenarios import run_events
from autopack_core.session import RunSession
from autopack_core.store import EventStore, RawRow

DURABLE_EVENTS = 20_000


def _runs(seed: int, total: int):
    """Yield (run_id, events) until ``total`` events, the last run cut short legally."""
    rng = random.Random(seed)
    produced = 0
    i = 0
    while produced < total:
        events = list(run_events(rng))
        i += 1
        yield f"run-{seed}-{i:07d}", events[: total - produced]
        produced += len(events)


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()


def bench_durable(db: Path, codec, n: int) -> tuple[float, list[list[RawRow]]]:
    """One durable transaction per event, through RunSession (machines + store)."""
    _fresh(db)
    store = EventStore(db, codec, durable=True)
    elapsed = 0.0
    count = 0
    for run_id, events in _runs(1, n):
        t = time.perf_counter()
        session = RunSession.create(store, run_id, events[0])
        for e in events[1:]:
            session.record(e)
        elapsed += time.perf_counter() - t
        count += len(events)
    batches = [list(store.iter_raw(r)) for r in store.run_ids()]
    store.close()
    return count / elapsed, batches


def bench_batched(db: Path, codec, n: int) -> tuple[float, float, list[int]]:
    """Each run's events in one transaction: store alone, and through RunSession."""
    _fresh(db)
    store = EventStore(db, codec, durable=True)
    t_store = 0.0
    count = 0
    sizes = []
    for run_id, events in _runs(2, n):
        t = time.perf_counter()
        store.append(run_id, events, expected_seq=0)
        t_store += time.perf_counter() - t
        count += len(events)
        sizes.append(len(events))
    store.close()
    # The same mix recorded through the machines, into a second file.
    db2 = db.with_name(db.name + ".session")
    _fresh(db2)
    store = EventStore(db2, codec, durable=True)
    t_session = 0.0
    session_count = 0
    for run_id, events in _runs(2, min(n, 200_000)):
        t = time.perf_counter()
        session = RunSession.create(store, run_id, events[0])
        session.record(*events[1:])
        t_session += time.perf_counter() - t
        session_count += len(events)
    store.close()
    _fresh(db2)
    return count / t_store, session_count / t_session, sizes


def _raw_schema(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, type TEXT NOT NULL, "
        "payload TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (run_id, seq)) STRICT"
    )
    for op in ("UPDATE", "DELETE"):
        conn.execute(f"CREATE TRIGGER events_no_{op.lower()} BEFORE {op} ON events BEGIN SELECT RAISE(ABORT, 'no'); END")


def bench_raw(db: Path, batches: list[list[tuple]], per_row_commit: bool) -> float:
    _fresh(db)
    conn = sqlite3.connect(str(db))
    _raw_schema(conn)
    sql = "INSERT INTO events (run_id, seq, ts, type, payload, hash) VALUES (?, ?, ?, ?, ?, ?)"
    count = 0
    t = time.perf_counter()
    for rows in batches:
        if per_row_commit:
            for row in rows:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(sql, row)
                conn.execute("COMMIT")
        else:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        count += len(rows)
    elapsed = time.perf_counter() - t
    conn.close()
    _fresh(db)
    return count / elapsed


def replay(db: Path) -> dict:
    """Stream every run from disk and fold its projections (run in a fresh process)."""
    plugins = load_plugins()
    store = EventStore(db, plugins.codec, create=False)
    t = time.perf_counter()
    events = 0
    statuses: dict[str, int] = {}
    for run_id in store.run_ids():
        view = fold_run(store.iter_events(run_id))
        events += view.seq
        statuses[view.status] = statuses.get(view.status, 0) + 1
    elapsed = time.perf_counter() - t
    peak_kb = _peak_rss_kb()
    return {"events": events, "replay_per_s": events / elapsed, "replay_peak_rss_mb": peak_kb / 1024, "statuses": statuses}


def _peak_rss_kb() -> int:
    # ru_maxrss survives fork+exec on Linux (it would report the parent's
    # peak); VmHWM belongs to this process image alone.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cli_help_ms(samples: int = 15) -> float:
    exe = shutil.which("autopack") or str(Path(sys.executable).with_name("autopack"))
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        subprocess.run([exe, "--help"], check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000, help="events for the batched and replay figures")
    ap.add_argument("--db", type=Path, default=None, help="database path (default: a temp file)")
    ap.add_argument("--durable-events", type=int, default=DURABLE_EVENTS)
    ap.add_argument("--replay-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.replay_only:
        print(json.dumps(replay(args.db)))
        return
    tmpdir = None
    if args.db is None:
        tmpdir = tempfile.mkdtemp(prefix="autopack-bench-")
        args.db = Path(tmpdir) / "bench.db"
    args.db.parent.mkdir(parents=True, exist_ok=True)
    codec = load_plugins().codec
    raw_db = args.db.with_name(args.db.name + ".raw")

    durable, durable_rows = bench_durable(args.db, codec, args.durable_events)
    raw_durable = bench_raw(raw_db, [[(r.run_id, r.seq, r.ts, r.type, r.payload, r.hash) for r in rows] for rows in durable_rows], True)
    del durable_rows

    batched, session_batched, _sizes = bench_batched(args.db, codec, args.events)
    store = EventStore(args.db, codec, create=False)
    raw_batches = [[(r.run_id, r.seq, r.ts, r.type, r.payload, r.hash) for r in store.iter_raw(run_id)] for run_id in store.run_ids()]
    store.close()
    raw_batched = bench_raw(raw_db, raw_batches, False)
    del raw_batches

    out = subprocess.run(
        [sys.executable, __file__, "--replay-only", "--db", str(args.db)], check=True, capture_output=True, text=True
    )
    rep = json.loads(out.stdout)
    result = {
        "events": args.events,
        "durable_events": args.durable_events,
        "append_durable_per_s": round(durable),
        "raw_sqlite_durable_per_s": round(raw_durable),
        "durable_ratio": round(durable / raw_durable, 3),
        "append_batched_per_s": round(batched),
        "raw_sqlite_batched_per_s": round(raw_batched),
        "batched_ratio": round(batched / raw_batched, 3),
        "record_batched_via_machines_per_s": round(session_batched),
        "replay_per_s": round(rep["replay_per_s"]),
        "replay_peak_rss_mb": round(rep["replay_peak_rss_mb"], 1),
        "replayed_events": rep["events"],
        "cli_help_ms": round(cli_help_ms(), 1),
        "db_bytes": os.path.getsize(args.db),
    }
    print(json.dumps(result))
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
