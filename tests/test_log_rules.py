"""A log that breaks the run's rules: refused on import, named by verify, never a traceback on read.

The hash chain only shows what changed after the fact; anyone can compute a
fresh one. These tests forge logs as an attacker would (valid chains, illegal
event sequences) and write them both as exports and straight into SQLite.
"""

from __future__ import annotations

import random
import sqlite3

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack_core import events as ev
from autopack_core.errors import BrokenLog
from autopack_core.events import Envelope
from autopack_core.plan import PhaseSpec
from autopack_core.plugins import load_plugins
from autopack_core.projections import fold_checked, fold_run
from autopack_core.scenarios import run_events
from autopack_core.store import GENESIS_HASH, EventStore, RawRow, chain_hash
from conftest import record_scenario

CODEC = load_plugins().codec
TS = "2026-11-26T12:00:00.000000+00:00"
CREATED = ev.RunCreated(goal="g", phases=(PhaseSpec(id="a", goal="do a"),))


def forged_rows(run_id: str, events: list[ev.Event]) -> list[RawRow]:
    rows, prev = [], GENESIS_HASH
    for seq, e in enumerate(events, start=1):
        payload = CODEC.encode(e).decode()
        prev = chain_hash(prev, run_id, seq, TS, e.type, payload)
        rows.append(RawRow(run_id, seq, TS, e.type, payload, prev))
    return rows


def forged_export(run_id: str, events: list[ev.Event]) -> bytes:
    rows = forged_rows(run_id, events)
    lines = [{"format": "autopack-run", "version": 1, "schema_version": ev.SCHEMA_VERSION, "run_id": run_id}]
    lines += [
        {"seq": r.seq, "ts": r.ts, "type": r.type, "hash": r.hash, "payload": orjson.loads(r.payload)} for r in rows
    ]
    lines.append({"end": "autopack-run", "events": len(rows), "last_hash": rows[-1].hash if rows else GENESIS_HASH})
    return b"".join(orjson.dumps(x) + b"\n" for x in lines)


ILLEGAL = {
    "no run_created first": ([ev.PhaseStarted(phase_id="a")], 2, "starts with run_created"),
    "a phase not in the plan": ([CREATED, ev.RunStarted(), ev.PhaseStarted(phase_id="zz")], 4, "no phase 'zz'"),
    "a phase event before the run started": ([CREATED, ev.PhaseStarted(phase_id="a")], 3, "not running"),
    "a second run_created": ([CREATED, ev.RunStarted(), CREATED], 4, "already exists"),
    "completed with a phase open": ([CREATED, ev.RunStarted(), ev.RunCompleted()], 4, "phases not finished: a"),
}


@pytest.mark.parametrize("name", sorted(ILLEGAL))
def test_import_refuses_a_forged_run_with_a_valid_chain(cli, tmp_path, name):
    events, line, message = ILLEGAL[name]
    export = tmp_path / "forged.jsonl"
    export.write_bytes(forged_export("01FORGED", events))
    target = tmp_path / "target.db"
    res = cli("import", str(export), "--db", str(target))
    err = res.stderr.decode().strip().splitlines()
    assert res.returncode == 2 and len(err) == 1, err
    assert f"forged.jsonl:{line}: " in err[0] and message in err[0] and "nothing imported" in err[0]
    assert not target.exists()


def test_a_legal_forged_run_imports(cli, tmp_path):
    # The rules, not the origin, decide: a legal sequence with a fresh chain is a run.
    events = [CREATED, ev.RunStarted(), ev.PhaseStarted(phase_id="a")]
    export = tmp_path / "ok.jsonl"
    export.write_bytes(forged_export("01LEGAL", events))
    res = cli("import", str(export), "--db", str(tmp_path / "t.db"))
    assert res.returncode == 0, res.stderr


def _write_behind_autopacks_back(db, run_id: str, events: list[ev.Event]) -> None:
    with EventStore(db, CODEC) as store:
        store.conn.execute("BEGIN IMMEDIATE")
        store.insert_raw(forged_rows(run_id, events))
        store.conn.execute("COMMIT")


def test_reading_a_broken_log_is_one_line_and_the_other_runs_still_list(cli, tmp_path):
    db = tmp_path / "autopack.db"
    n = record_scenario(db, "01GOODRUN", seed=5)
    _write_behind_autopacks_back(db, "01BROKEN", [CREATED, ev.RunStarted(), ev.PhaseStarted(phase_id="zz")])
    before = db.read_bytes()

    res = cli("runs", "--db", str(db))
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "01GOODRUN" in out and "01BROKEN" in out and "broken" in out and "seq 3" in out

    res = cli("show", "01BROKEN", "--db", str(db))
    err = res.stderr.decode().strip().splitlines()
    assert res.returncode == 2 and err == [f"autopack: error: run 01BROKEN seq 3: {err[0].split('seq 3: ', 1)[1]}"]
    assert "phase_started" in err[0] and "Traceback" not in res.stderr.decode()

    res = cli("verify", "--db", str(db))
    assert res.returncode == 1
    assert res.stderr.decode().strip().splitlines() == [
        "run 01BROKEN seq 3: breaks the run's rules: phase_started: no phase 'zz' in the plan"
    ]
    assert cli("verify", "01GOODRUN", "--db", str(db)).returncode == 0
    assert cli("show", "01GOODRUN", "--db", str(db)).returncode == 0
    assert db.read_bytes() == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE run_id = '01GOODRUN'").fetchone()[0] == n


def test_verify_names_an_undecodable_payload(cli, tmp_path):
    db = tmp_path / "autopack.db"
    rows = forged_rows("01BADPAYLOAD", [CREATED, ev.RunStarted()])
    payload = '{"nonsense": 1, "type": "run_started"}'
    rows[1] = RawRow(
        "01BADPAYLOAD",
        2,
        TS,
        "run_started",
        payload,
        chain_hash(rows[0].hash, "01BADPAYLOAD", 2, TS, "run_started", payload),
    )
    with EventStore(db, CODEC) as store:
        store.conn.execute("BEGIN IMMEDIATE")
        store.insert_raw(rows)
        store.conn.execute("COMMIT")
    res = cli("verify", "--db", str(db))
    assert res.returncode == 1
    line = res.stderr.decode().strip()
    assert line.startswith("run 01BADPAYLOAD seq 2: undecodable:") and "nonsense" in line


def _legal(seed: int) -> list[ev.Event]:
    return list(run_events(random.Random(seed), phases=3))


def _envs(events: list[ev.Event]) -> list[Envelope]:
    return [Envelope("r", i, TS, e, "h") for i, e in enumerate(events, start=1)]


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 10_000), edits=st.lists(st.tuples(st.sampled_from("dsx"), st.integers(0, 400)), max_size=4))
def test_any_edit_of_a_legal_log_is_folded_or_named_never_a_crash(seed, edits):
    # Deleting, swapping and duplicating events: fold_run either folds the
    # result or raises BrokenLog naming an event; fold_checked refuses any
    # sequence a live run could not record, and agrees with fold_run otherwise.
    events = _legal(seed)
    assert fold_checked(_envs(events)) == fold_run(_envs(events))
    for op, at in edits:
        i = at % len(events)
        if op == "d" and len(events) > 1:
            del events[i]
        elif op == "s":
            j = (i + 1) % len(events)
            events[i], events[j] = events[j], events[i]
        elif op == "x":
            events.insert(i, events[i])
    envs = _envs(events)
    try:
        checked = fold_checked(envs)
    except BrokenLog as exc:
        assert 1 <= exc.seq <= len(envs)
        try:
            fold_run(envs)
        except BrokenLog:
            pass
    else:
        assert checked == fold_run(envs)
