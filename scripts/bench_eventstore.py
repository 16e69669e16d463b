"""Event store benchmark: append (durable and batched), replay, CLI start-up.

    python scripts/bench_eventstore.py --events 1000000 --db /tmp/bench.db

Prints one JSON object. Event mixes come from ``autopack_core.scenarios`` and
are checked by the real run/phase machines (``RunSession``) as they are
recorded. Raw SQLite figures insert the very same rows (payload and hash
precomputed) into the same schema with the same pragmas and transaction sizes,
in the same process run, alternating with Autopack's own (each ratio divides by
the raw figure measured beside it), so the ratio is what Autopack's own code
costs. Replay (decode every event and fold every run, in a fresh process) is
set against merely reading the same rows in order (``raw_rows_per_s``),
alternating run by run in that process.
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
from autopack_core.store import EventStore

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


def _raw_conn(path: Path) -> sqlite3.Connection:
    _fresh(path)
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, type TEXT NOT NULL, "
        "payload TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (run_id, seq)) STRICT"
    )
    for op in ("UPDATE", "DELETE"):
        conn.execute(
            f"CREATE TRIGGER events_no_{op.lower()} BEFORE {op} ON events BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    return conn


_INSERT = "INSERT INTO events (run_id, seq, ts, type, payload, hash) VALUES (?, ?, ?, ?, ?, ?)"


def _rows(store: EventStore, run_ids: list[str]) -> list[tuple]:
    return [(r.run_id, r.seq, r.ts, r.type, r.payload, r.hash) for run_id in run_ids for r in store.iter_raw(run_id)]


def bench_durable(db: Path, raw_db: Path, codec, n: int) -> tuple[float, float, float]:
    """One durable transaction per event, alternating run by run so all three
    see the same disk: the store's append, the same through RunSession (the
    machines checking and moving on every event), and raw SQLite."""
    _fresh(db)
    session_db = db.with_name(db.name + ".session")
    _fresh(session_db)
    store = EventStore(db, codec, durable=True)
    session_store = EventStore(session_db, codec, durable=True)
    raw = _raw_conn(raw_db)
    elapsed = {"store": 0.0, "session": 0.0, "raw": 0.0}
    count = 0

    def via_session(run_id: str, events: list) -> None:
        session = RunSession.create(session_store, run_id, events[0])
        for e in events[1:]:
            session.record(e)

    def via_store(run_id: str, events: list) -> None:
        for seq, e in enumerate(events):
            store.append(run_id, (e,), expected_seq=seq)

    def via_raw(run_id: str, events: list) -> None:
        for row in rows:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(_INSERT, row)
            raw.execute("COMMIT")

    steps = {"store": via_store, "session": via_session, "raw": via_raw}
    # Raw inserts the rows the store wrote, so it comes after the store; the
    # session takes each place in turn, so none always follows another's fsync.
    orders = (("session", "store", "raw"), ("store", "session", "raw"), ("store", "raw", "session"))
    for i, (run_id, events) in enumerate(_runs(1, n)):
        rows: list = []
        for name in orders[i % 3]:
            if name == "raw":
                rows = _rows(store, [run_id])
            t = time.perf_counter()
            steps[name](run_id, events)
            elapsed[name] += time.perf_counter() - t
        count += len(events)
    t_store, t_session, t_raw = elapsed["store"], elapsed["session"], elapsed["raw"]
    for closing in (store, session_store, raw):
        closing.close()
    _fresh(raw_db)
    _fresh(session_db)
    return count / t_store, count / t_session, count / t_raw


def _groups(seed: int, total: int, size: int):
    group: list = []
    events_in_group = 0
    for run_id, events in _runs(seed, total):
        group.append((run_id, events))
        events_in_group += len(events)
        if events_in_group >= size:
            yield group
            group, events_in_group = [], 0
    if group:
        yield group


def bench_batched(db: Path, raw_db: Path, codec, n: int, size: int) -> tuple[float, float]:
    """Transactions of about ``size`` events (several runs each), store against
    raw SQLite, alternating group by group."""
    _fresh(db)
    store = EventStore(db, codec, durable=True)
    raw = _raw_conn(raw_db)
    ours = theirs = 0.0
    count = 0
    for group in _groups(2, n, size):
        t = time.perf_counter()
        with store.batch():
            for run_id, events in group:
                store.append(run_id, events, expected_seq=0)
        ours += time.perf_counter() - t
        rows = _rows(store, [run_id for run_id, _ in group])
        t = time.perf_counter()
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(_INSERT, rows)
        raw.execute("COMMIT")
        theirs += time.perf_counter() - t
        count += len(rows)
    store.close()
    raw.close()
    _fresh(raw_db)
    return count / ours, count / theirs


def bench_session_batched(db: Path, raw_db: Path, codec, n: int, size: int) -> tuple[float, float]:
    """The same kind of batches recorded through RunSession (machines checking each event),
    alternating group by group with raw SQLite inserting the same rows, as above."""
    _fresh(db)
    store = EventStore(db, codec, durable=True)
    raw = _raw_conn(raw_db)
    elapsed = theirs = 0.0
    count = 0
    for group in _groups(3, n, size):
        t = time.perf_counter()
        with store.batch():
            for run_id, events in group:
                RunSession.create(store, run_id, events[0]).record(*events[1:])
        elapsed += time.perf_counter() - t
        rows = _rows(store, [run_id for run_id, _ in group])
        t = time.perf_counter()
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(_INSERT, rows)
        raw.execute("COMMIT")
        theirs += time.perf_counter() - t
        count += len(rows)
    store.close()
    raw.close()
    _fresh(db)
    _fresh(raw_db)
    return count / elapsed, count / theirs


_ROWS = "SELECT seq, ts, type, payload, hash FROM events WHERE run_id = ? ORDER BY seq"


def _read_rows(conn: sqlite3.Connection, run_id: str) -> int:
    cur = conn.execute(_ROWS, (run_id,))
    cur.arraysize = 512
    rows = 0
    while True:
        batch = cur.fetchmany()
        if not batch:
            return rows
        rows += len(batch)


def replay(db: Path) -> dict:
    """Stream every run from disk and fold its projections (run in a fresh process).

    Run by run, alternating which goes first, the same rows are also merely
    read in order on a connection of their own (nothing decoded): replay's
    floor, measured under the same load at the same moment.
    """
    plugins = load_plugins()
    store = EventStore.open(db, plugins.codec, readonly=True)
    raw = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    t_replay = t_rows = 0.0
    events = rows = 0
    statuses: dict[str, int] = {}
    for i, run_id in enumerate(store.run_ids()):
        for step in (0, 1) if i % 2 else (1, 0):
            t = time.perf_counter()
            if step:
                view = fold_run(store.iter_events(run_id))
                t_replay += time.perf_counter() - t
            else:
                rows += _read_rows(raw, run_id)
                t_rows += time.perf_counter() - t
        events += view.seq
        statuses[view.status] = statuses.get(view.status, 0) + 1
    raw.close()
    peak_kb = _peak_rss_kb()
    return {
        "events": events,
        "replay_per_s": events / t_replay,
        "raw_rows_per_s": rows / t_rows,
        "replay_peak_rss_mb": peak_kb / 1024,
        "statuses": statuses,
    }


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
    ap.add_argument("--batch-size", type=int, default=1000, help="events per batched transaction (whole runs)")
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

    durable, session_durable, raw_durable = bench_durable(args.db, raw_db, codec, args.durable_events)
    batched, raw_batched = bench_batched(args.db, raw_db, codec, args.events, args.batch_size)
    session_batched, raw_session_batched = bench_session_batched(
        args.db.with_name(args.db.name + ".session"), raw_db, codec, min(args.events, 200_000), args.batch_size
    )

    out = subprocess.run(
        [sys.executable, __file__, "--replay-only", "--db", str(args.db)], check=True, capture_output=True, text=True
    )
    rep = json.loads(out.stdout)
    result = {
        "events": args.events,
        "batch_size": args.batch_size,
        "durable_events": args.durable_events,
        "append_durable_per_s": round(durable),
        "raw_sqlite_durable_per_s": round(raw_durable),
        "durable_ratio": round(durable / raw_durable, 3),
        "record_durable_via_machines_per_s": round(session_durable),
        "record_durable_via_machines_ratio": round(session_durable / raw_durable, 3),
        "append_batched_per_s": round(batched),
        "raw_sqlite_batched_per_s": round(raw_batched),
        "batched_ratio": round(batched / raw_batched, 3),
        "record_batched_via_machines_per_s": round(session_batched),
        "record_batched_via_machines_ratio": round(session_batched / raw_session_batched, 3),
        "replay_per_s": round(rep["replay_per_s"]),
        "raw_rows_per_s": round(rep["raw_rows_per_s"]),
        "replay_vs_rows": round(rep["replay_per_s"] / rep["raw_rows_per_s"], 3),
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
