"""Moving a run between stores as JSON Lines.

Layout: a header line, one line per event, and a footer line that counts the
events and repeats the last hash, so a file cut at a line boundary is still
caught as truncated. Each event's payload is copied byte for byte and its
chain hash is checked on import, so export → import → export is byte-identical
and an edited export is refused.
"""

from __future__ import annotations

from typing import IO, Any

import orjson

from autopack_core.errors import AutopackError, BrokenLog, ImportFormatError, RunExists
from autopack_core.events import SCHEMA_VERSION, Envelope, is_run_stream
from autopack_core.projections import RunView, apply_checked
from autopack_core.store import GENESIS_HASH, EventStore, RawRow, chain_hash

FORMAT = "autopack-run"
FORMAT_VERSION = 1
_BATCH = 1000


def event_line(row: RawRow, *, with_run: bool = False) -> str:
    head: dict[str, Any] = {"run_id": row.run_id} if with_run else {}
    head.update(seq=row.seq, ts=row.ts, type=row.type, hash=row.hash, payload=orjson.Fragment(row.payload))
    return orjson.dumps(head).decode()


def summarize_payload(payload: str, width: int = 100) -> str:
    data = orjson.loads(payload)
    data.pop("type", None)
    parts = []
    for k, v in data.items():
        if v in ("", None, [], {}):
            continue
        text = v if isinstance(v, str) else orjson.dumps(v).decode()
        text = text.replace("\n", "⏎")
        parts.append(f"{k}={text[:40]}")
    line = " ".join(parts)
    return line if len(line) <= width else line[: width - 1] + "…"


def export_run(store: EventStore, run_id: str, out: IO[bytes]) -> int:
    """Stream one run to ``out``; returns the number of events written."""
    out.write(
        orjson.dumps({"format": FORMAT, "version": FORMAT_VERSION, "schema_version": SCHEMA_VERSION, "run_id": run_id})
        + b"\n"
    )
    count = 0
    last = GENESIS_HASH
    for row in store.iter_raw(run_id):
        out.write(event_line(row).encode() + b"\n")
        count += 1
        last = row.hash
    out.write(orjson.dumps({"end": FORMAT, "events": count, "last_hash": last}) + b"\n")
    return count


def _parse(raw: bytes, where: str) -> dict[str, Any]:
    if not raw.endswith(b"\n"):
        raise ImportFormatError(f"{where}: line is cut off (the file is truncated)")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ImportFormatError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ImportFormatError(f"{where}: expected a JSON object")
    return data


def _field(data: dict[str, Any], key: str, typ: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, typ) or isinstance(value, bool) and typ is int:
        raise ImportFormatError(f"{where}: field {key!r} missing or not a {typ.__name__}")
    return value


def import_run(store: EventStore, src: IO[bytes], name: str) -> tuple[str, int]:
    """Read one exported run into ``store`` in a single transaction.

    Every line is decoded with the loaded event types, its hash checked and,
    for a run, held to the run's rules as a live run's events are (a chain
    anyone can recompute proves nothing about where the events came from)
    before anything is committed; any problem leaves the store unchanged.
    """
    lines = iter(src)
    first = next(lines, None)
    if first is None:
        raise ImportFormatError(f"{name}:1: empty file")
    header = _parse(first, f"{name}:1")
    if header.get("format") != FORMAT:
        raise ImportFormatError(f'{name}:1: not an Autopack run export (no \'"format": "{FORMAT}"\' header)')
    if header.get("version") != FORMAT_VERSION:
        raise ImportFormatError(
            f"{name}:1: export format version {header.get('version')!r} is not supported "
            f"(this Autopack reads {FORMAT_VERSION})"
        )
    if isinstance(header.get("schema_version"), int) and header["schema_version"] > SCHEMA_VERSION:
        raise ImportFormatError(
            f"{name}:1: written by a newer Autopack (schema {header['schema_version']} > {SCHEMA_VERSION})"
        )
    run_id = _field(header, "run_id", str, f"{name}:1")
    if store.has_run(run_id):
        raise RunExists(f"{name}: run {run_id} is already in {store.path}; nothing imported")
    codec = store.codec
    conn = store.conn
    prev = GENESIS_HASH
    count = 0
    footer: dict[str, Any] | None = None
    batch: list[RawRow] = []
    view: RunView | None = None
    is_run = is_run_stream(run_id)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for lineno, raw in enumerate(lines, start=2):
            where = f"{name}:{lineno}"
            if footer is not None:
                raise ImportFormatError(f"{where}: data after the end-of-export line")
            data = _parse(raw, where)
            if "end" in data:
                footer = data
                continue
            seq = _field(data, "seq", int, where)
            if seq != count + 1:
                raise ImportFormatError(f"{where}: expected seq {count + 1}, found {seq}")
            ts = _field(data, "ts", str, where)
            tag = _field(data, "type", str, where)
            stored_hash = _field(data, "hash", str, where)
            payload_obj = _field(data, "payload", dict, where)
            if payload_obj.get("type") != tag:
                raise ImportFormatError(
                    f"{where}: payload type {payload_obj.get('type')!r} differs from line type {tag!r}"
                )
            payload = orjson.dumps(payload_obj).decode()
            event = codec.decode(tag, payload, where)
            if chain_hash(prev, run_id, seq, ts, tag, payload) != stored_hash:
                raise ImportFormatError(f"{where}: hash does not match the event (the export was edited)")
            if is_run:
                try:
                    view = apply_checked(view, Envelope(run_id, seq, ts, event, stored_hash))
                except BrokenLog as exc:
                    raise ImportFormatError(f"{where}: {exc.message}; nothing imported") from None
            prev = stored_hash
            count += 1
            batch.append(RawRow(run_id, seq, ts, tag, payload, stored_hash))
            if len(batch) >= _BATCH:
                store.insert_raw(batch)
                batch.clear()
        if footer is None:
            raise ImportFormatError(f"{name}: ends after {count} events without the end-of-export line (truncated)")
        if footer.get("events") != count:
            said = footer.get("events")
            raise ImportFormatError(f"{name}: the end-of-export line says {said!r} events; found {count}")
        if footer.get("last_hash") != prev:
            raise ImportFormatError(
                f"{name}: the end-of-export line's last_hash {footer.get('last_hash')!r} is not the hash of the last "
                f"event (seq {count}: {prev!r}); the footer was edited or belongs to another export"
            )
        if count == 0:
            raise ImportFormatError(f"{name}: the export holds no events")
        store.insert_raw(batch)
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, AutopackError) or not isinstance(exc, Exception):
            raise
        raise ImportFormatError(f"{name}: {exc}") from exc
    return run_id, count
