"""`autopack verify`: tampering behind the store's back is found and located."""

from __future__ import annotations

import sqlite3

import pytest

from conftest import record_scenario


def _tamper(db, *statements):
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("DROP TRIGGER events_no_delete")
        for sql in statements:
            conn.execute(sql)


def test_clean_log_verifies(cli, recorded_db):
    db, run_id, _ = recorded_db
    res = cli("verify", "--db", str(db))
    assert res.returncode == 0, res.stderr
    assert b"ok: 1 run(s) verified" in res.stdout
    assert cli("verify", run_id, "--db", str(db)).returncode == 0


def test_an_edited_payload_is_named_by_seq(cli, recorded_db):
    db, run_id, _ = recorded_db
    _tamper(db, f"UPDATE events SET payload = payload || ' ' WHERE run_id = '{run_id}' AND seq = 7")
    res = cli("verify", "--db", str(db))
    assert res.returncode == 1
    assert f"run {run_id} seq 7: changed".encode() in res.stderr


def test_a_removed_event_is_named(cli, recorded_db):
    db, run_id, _ = recorded_db
    _tamper(db, f"DELETE FROM events WHERE run_id = '{run_id}' AND seq = 5")
    res = cli("verify", run_id, "--db", str(db))
    assert res.returncode == 1
    assert b"seq 5: removed" in res.stderr


def test_renumbered_removal_is_found(cli, recorded_db):
    db, run_id, n = recorded_db
    _tamper(
        db,
        f"DELETE FROM events WHERE run_id = '{run_id}' AND seq = 5",
        f"UPDATE events SET seq = -seq WHERE run_id = '{run_id}' AND seq > 5",
        f"UPDATE events SET seq = -seq - 1 WHERE run_id = '{run_id}' AND seq < 0",
    )
    res = cli("verify", "--db", str(db))
    assert res.returncode == 1
    assert b"seq 5: inserted or reordered" in res.stderr


def test_swapped_events_are_found(cli, recorded_db):
    db, run_id, _ = recorded_db
    _tamper(
        db,
        f"UPDATE events SET seq = -1 WHERE run_id = '{run_id}' AND seq = 8",
        f"UPDATE events SET seq = 8 WHERE run_id = '{run_id}' AND seq = 9",
        f"UPDATE events SET seq = 9 WHERE run_id = '{run_id}' AND seq = -1",
    )
    res = cli("verify", "--db", str(db))
    assert res.returncode == 1
    assert b"seq 8: inserted or reordered" in res.stderr


def test_an_inserted_event_is_found(cli, recorded_db):
    db, run_id, n = recorded_db
    _tamper(
        db,
        f"UPDATE events SET seq = -seq WHERE run_id = '{run_id}' AND seq >= 4",
        f"UPDATE events SET seq = -seq + 1 WHERE run_id = '{run_id}' AND seq < 0",
        "INSERT INTO events SELECT run_id, 4, ts, type, payload, hash FROM events "
        f"WHERE run_id = '{run_id}' AND seq = 3",
    )
    res = cli("verify", "--db", str(db))
    assert res.returncode == 1
    assert b"seq 4: inserted or reordered" in res.stderr


def test_only_the_tampered_run_is_reported(cli, tmp_path):
    db = tmp_path / "two.db"
    record_scenario(db, "run-a", seed=1)
    record_scenario(db, "run-b", seed=2)
    _tamper(db, "UPDATE events SET ts = 'x' WHERE run_id = 'run-b' AND seq = 2")
    res = cli("verify", "--db", str(db))
    assert res.returncode == 1
    assert res.stderr.decode().strip().splitlines() == [
        "run run-b seq 2: changed: content does not match its hash (edited outside Autopack)"
    ]
    assert cli("verify", "run-a", "--db", str(db)).returncode == 0


@pytest.mark.parametrize("n_events", [1, 2])
def test_last_event_edit_is_found(cli, tmp_path, plugin_set, n_events):
    from autopack_core import events as ev
    from autopack_core.store import EventStore

    db = tmp_path / "e.db"
    with EventStore(db, plugin_set.codec) as s:
        s.append(
            "r", [ev.HintRecorded(phase_id="p", category="c", hint=str(i)) for i in range(n_events)], expected_seq=0
        )
    _tamper(
        db,
        f'UPDATE events SET payload = replace(payload, \'"hint":"{n_events - 1}"\', \'"hint":"z"\') '
        f"WHERE seq = {n_events}",
    )
    res = cli("verify", "--db", str(db))
    assert res.returncode == 1
    assert f"seq {n_events}: changed".encode() in res.stderr
