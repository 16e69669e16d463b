"""The append-only event store: one SQLite table keyed by (run_id, seq).

Durability: WAL with ``synchronous=FULL``, so a committed append is on disk
before ``append`` returns and the executor acts on it. Append-only is enforced
by triggers in the database, not by convention. Each event's ``hash`` covers
its content and the previous event's hash, so ``verify`` finds the first event
that was changed, removed, inserted or reordered behind the store's back.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import attrs
import orjson
import sqlite_utils

from autopack_core.codec import EventCodec
from autopack_core.errors import (
    ConcurrencyError,
    ForeignDatabaseError,
    RunNotFound,
    SchemaVersionError,
    StoreError,
)
from autopack_core.events import Envelope, Event
from autopack_core.timeutil import utc_now_iso

MIGRATION_SET = "autopack"
GENESIS_HASH = ""
_SQLITE_MAGIC = b"SQLite format 3\x00"

migrations = sqlite_utils.Migrations(MIGRATION_SET)


@migrations()
def m001_events(db: sqlite_utils.Database) -> None:
    db["events"].create(
        {"run_id": str, "seq": int, "ts": str, "type": str, "payload": str, "hash": str},
        pk=("run_id", "seq"),
        not_null={"run_id", "seq", "ts", "type", "payload", "hash"},
        strict=True,
    )
    for op in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER events_no_{op.lower()} BEFORE {op} ON events "
            f"BEGIN SELECT RAISE(ABORT, 'autopack events are append-only: {op} refused'); END"
        )


KNOWN_MIGRATIONS = frozenset(m.name for m in migrations._migrations)


@attrs.frozen(slots=True)
class RawRow:
    run_id: str
    seq: int
    ts: str
    type: str
    payload: str
    hash: str


# Envelope is a named tuple: ``_tuple_new(Envelope, (run_id, seq, ts, event,
# hash))`` builds one without the Python-level ``__new__`` of NamedTuple.
_tuple_new = tuple.__new__


def chain_hash(prev_hash: str, run_id: str, seq: int, ts: str, type_tag: str, payload: str) -> str:
    """The hash stored with an event: content plus the previous event's hash."""
    return _sha256(f"{prev_hash}\x1f{run_id}\x1f{seq}\x1f{ts}\x1f{type_tag}\x1f{payload}".encode()).hexdigest()


_sha256 = hashlib.sha256
_COMPANIONS = ("-wal", "-shm", "-journal")
_INSERT = "INSERT INTO events (run_id, seq, ts, type, payload, hash) VALUES (?, ?, ?, ?, ?, ?)"


Observer = Callable[[Sequence[Envelope]], None]


class EventStore:
    """Appends and streams events. One instance per database file and process.

    ``readonly=True`` (or ``EventStore.open(path, codec, readonly=True)``) is
    for commands that only read: the file is opened with SQLite's
    ``mode=ro``, so nothing, not even the journal mode, is written, and a
    missing, empty or foreign file is refused instead of being made a store.
    A writable store is created and migrated as needed, and switched to WAL
    only once it is known to be Autopack's. With ``discard_if_refused=True``
    a store this instance created is removed again (with the folders made
    for it) when the ``with`` block around it raises, so a refused write
    leaves nothing behind.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        codec: EventCodec,
        *,
        durable: bool = True,
        observers: Sequence[Observer] = (),
        clock: Callable[[], str] = utc_now_iso,
        create: bool = True,
        readonly: bool = False,
        discard_if_refused: bool = False,
    ) -> None:
        self.path = Path(path)
        self.codec = codec
        self.clock = clock
        self.readonly = readonly
        self.observers = list(observers)
        self.observer_errors: list[Exception] = []
        self._heads: dict[str, tuple[int, str]] = {}
        self._batch: list[Envelope] | None = None
        self._made: list[Path] = []  # the file and folders this instance created, deepest first
        if not self.path.exists():
            if readonly or not create:
                raise StoreError(f"{self.path}: no such event store")
            missing = [d for d in (self.path.parent, *self.path.parent.parents) if not d.exists()]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._made = [self.path, *missing]
        else:
            _check_magic(self.path)
            if readonly and self.path.stat().st_size == 0:
                raise ForeignDatabaseError(f"{self.path}: an empty file, not an Autopack event store")
        self._discard = discard_if_refused and bool(self._made)
        # A reader of a WAL store makes SQLite's -wal/-shm companions if none
        # are there; it then removes them on close (see _tidy_companions).
        self._tidy = readonly and not any(os.path.lexists(f"{self.path}{s}") for s in _COMPANIONS)
        conn = None
        try:
            if readonly:
                uri = Path(os.path.abspath(self.path)).as_uri() + "?mode=ro"
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            else:
                conn = sqlite3.connect(str(self.path), check_same_thread=False)
            self.db = sqlite_utils.Database(conn, execute_plugins=False)
            conn.execute("PRAGMA busy_timeout=5000")
            # Every check that can refuse the file reads only: a foreign
            # database must come out of a refusal byte for byte unchanged.
            self._migrate()
            if not readonly:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        except BaseException as exc:
            if conn is not None:
                conn.close()
                self._tidy_companions()
            self._remove_made()
            if isinstance(exc, sqlite3.DatabaseError):
                raise ForeignDatabaseError(f"{self.path}: not a usable SQLite database ({exc})") from exc
            raise
        self.conn = conn

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], codec: EventCodec, *, readonly: bool = False, **options: Any
    ) -> "EventStore":
        """Open a store; ``readonly=True`` for commands that must not write (see the class)."""
        return cls(path, codec, readonly=readonly, **options)

    # -- schema ------------------------------------------------------------

    def _migrate(self) -> None:
        names = set(self.db.table_names())
        applied = {m.name for m in migrations.applied(self.db)} if "_sqlite_migrations" in names else set()
        if names and not applied:
            raise ForeignDatabaseError(
                f"{self.path}: not an Autopack event store (it holds tables {', '.join(sorted(names))})"
            )
        if not names and self.readonly:
            raise ForeignDatabaseError(f"{self.path}: an empty SQLite database, not an Autopack event store")
        newer = applied - KNOWN_MIGRATIONS
        if newer:
            raise SchemaVersionError(
                f"{self.path}: written by a newer Autopack (unknown schema migrations: "
                f"{', '.join(sorted(newer))}); upgrade Autopack to read it"
            )
        pending = KNOWN_MIGRATIONS - applied
        if pending and self.readonly:
            raise SchemaVersionError(
                f"{self.path}: written by an older Autopack (schema migrations not applied: "
                f"{', '.join(sorted(pending))}); a command that writes to the store upgrades it"
            )
        if pending:
            migrations.apply(self.db)

    def _remove_made(self) -> None:
        for made in self._made:
            if made == self.path:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    with contextlib.suppress(OSError):
                        os.unlink(f"{made}{suffix}")
            else:
                with contextlib.suppress(OSError):
                    made.rmdir()  # only if still empty
        self._made = []

    def close(self) -> None:
        self.conn.close()
        self._tidy_companions()

    def _tidy_companions(self) -> None:
        """Remove the -wal/-shm files this reader made, the way SQLite removes them.

        A read-only connection cannot checkpoint, so SQLite leaves the
        companions it made. When they were not there before and the WAL is
        still empty (nobody wrote meanwhile), a read-write connection is
        opened and closed without a statement that writes: if it is the last
        connection, SQLite itself deletes both files (its locks decide, so a
        writer that has the store open keeps them); the store file is not
        touched. Anything unexpected leaves them, as any SQLite reader would.
        """
        if not self._tidy:
            return
        self._tidy = False
        wal = f"{self.path}-wal"
        try:
            if not os.path.isfile(wal) or os.path.islink(wal) or os.path.getsize(wal) != 0:
                return
            uri = Path(os.path.abspath(self.path)).as_uri() + "?mode=rw"
            conn = sqlite3.connect(uri, uri=True)
            try:
                conn.execute("PRAGMA busy_timeout=0")
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            finally:
                conn.close()
        except (OSError, sqlite3.Error):
            pass

    def __enter__(self) -> "EventStore":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close()
        if exc_type is not None and self._discard:
            self._remove_made()

    # -- writing -----------------------------------------------------------

    def head(self, run_id: str) -> tuple[int, str]:
        """(last seq, its hash) of a run; (0, GENESIS_HASH) if it has none."""
        row = self.conn.execute(
            "SELECT seq, hash FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,)
        ).fetchone()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    def _known_head(self, run_id: str, expected_seq: int) -> tuple[int, str]:
        # Our own last append tells us the head without a query. If another
        # writer appended since, its row holds the seq we are about to write
        # and the primary key turns our insert into a ConcurrencyError.
        cached = self._heads.get(run_id)
        if cached is not None and cached[0] == expected_seq:
            return cached
        return self.head(run_id)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group appends (to any runs) into one transaction and one fsync.

        Use it only where nothing acts on a write before the batch ends:
        observers hear of the events after the commit, and an error anywhere
        in the block writes none of them.
        """
        if self._batch is not None:
            raise StoreError("batches do not nest")
        self._begin()
        self._batch = []
        heads_before = dict(self._heads)
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self._heads = heads_before
            self._batch = None
            raise
        done, self._batch = self._batch, None
        self._notify(done)

    def _begin(self) -> None:
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only; nothing can be appended")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ConcurrencyError(f"{self.path}: the store is locked by another writer ({exc})") from exc

    def append(self, run_id: str, events: Sequence[Event], *, expected_seq: int) -> list[Envelope]:
        """Append ``events`` after ``expected_seq`` in one durable transaction.

        Raises ``ConcurrencyError`` (and writes nothing) if the run's last
        sequence number is not ``expected_seq``: another writer got there first.
        """
        if not events:
            return []
        conn = self.conn
        in_batch = self._batch is not None
        # One prepared single-row INSERT run by executemany: a multi-row VALUES
        # statement must be compiled for every new row count and is half as
        # fast. In a batch, a savepoint makes the append all-or-nothing.
        if not in_batch:
            self._begin()
        else:
            conn.execute("SAVEPOINT autopack_append")
        try:
            if expected_seq == 0:
                # A new run: no head to look up. If the run exists after all, its
                # seq 1 is taken and the primary key refuses the insert.
                last_seq, prev = 0, GENESIS_HASH
            else:
                last_seq, prev = self._known_head(run_id, expected_seq)
            if last_seq != expected_seq:
                raise self._stale(run_id, expected_seq, last_seq)
            rows: list[tuple[object, ...]] = []
            out = []
            ts = self.clock()
            seq = last_seq
            sha256 = _sha256
            new = _tuple_new
            encoders = self.codec.encoders
            encoder_of = self.codec.encoder_of
            run_sep = f"\x1f{run_id}\x1f"
            ts_sep = f"\x1f{ts}\x1f"
            for event in events:
                payload = (encoders.get(type(event)) or encoder_of(event))(event)
                seq += 1
                tag = event.type
                # chain_hash, inlined, over the payload's bytes as encoded (fed
                # in two parts rather than copied into one)
                digest = sha256(f"{prev}{run_sep}{seq}{ts_sep}{tag}\x1f".encode())
                digest.update(payload)
                prev = digest.hexdigest()
                rows.append((run_id, seq, ts, tag, payload.decode(), prev))
                out.append(new(Envelope, (run_id, seq, ts, event, prev)))
            conn.executemany(_INSERT, rows)
            conn.execute("RELEASE autopack_append" if in_batch else "COMMIT")
        except BaseException as exc:
            self._heads.pop(run_id, None)
            if in_batch:
                conn.execute("ROLLBACK TO autopack_append")
                conn.execute("RELEASE autopack_append")
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                last_seq = self.head(run_id)[0]
                if last_seq != expected_seq:
                    raise self._stale(run_id, expected_seq, last_seq) from exc
                raise ConcurrencyError(f"run {run_id}: sequence conflict, another writer appended ({exc})") from exc
            raise
        self._heads[run_id] = (seq, prev)
        if in_batch:
            self._batch.extend(out)  # type: ignore[union-attr]
        else:
            self._notify(out)
        return out

    @staticmethod
    def _stale(run_id: str, expected_seq: int, last_seq: int) -> ConcurrencyError:
        return ConcurrencyError(
            f"run {run_id}: expected to append after seq {expected_seq}, "
            f"but the log is at seq {last_seq} (another writer appended)"
        )

    def _notify(self, out: Sequence[Envelope]) -> None:
        if not out:
            return
        for observer in self.observers:
            # The events are committed: a failing observer must not make the
            # writer believe otherwise (its live state would then lag the log).
            try:
                observer(out)
            except Exception as exc:  # noqa: BLE001
                self.observer_errors.append(exc)
                logging.getLogger("autopack.store").warning("event observer %r failed: %s", observer, exc)

    def insert_raw(self, rows: Sequence[RawRow]) -> None:
        """Insert already-hashed rows (import). The caller owns the transaction."""
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only; nothing can be imported")
        self.conn.executemany(
            _INSERT,
            [(r.run_id, r.seq, r.ts, r.type, r.payload, r.hash) for r in rows],
        )

    # -- reading -----------------------------------------------------------

    def run_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT run_id FROM events ORDER BY run_id")]

    def has_run(self, run_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM events WHERE run_id = ? LIMIT 1", (run_id,)).fetchone() is not None

    def resolve_run(self, ref: str) -> str:
        """A full run id from itself or a unique prefix; ``RunNotFound`` otherwise."""
        if self.has_run(ref):
            return ref
        like = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found = [
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT run_id FROM events WHERE run_id LIKE ? ESCAPE '\\' LIMIT 2", (like,)
            )
        ]
        if len(found) == 1:
            return found[0]
        if found:
            raise RunNotFound(f"run id prefix {ref!r} is ambiguous")
        raise RunNotFound(f"no run {ref!r} in {self.path}")

    def iter_raw(self, run_id: str | None = None, from_seq: int = 1) -> Iterator[RawRow]:
        """Stream rows in (run_id, seq) order without holding the log in memory."""
        if run_id is None:
            cur = self.conn.execute("SELECT run_id, seq, ts, type, payload, hash FROM events ORDER BY run_id, seq")
        else:
            cur = self.conn.execute(
                "SELECT run_id, seq, ts, type, payload, hash FROM events WHERE run_id = ? AND seq >= ? ORDER BY seq",
                (run_id, from_seq),
            )
        cur.arraysize = 512
        while True:
            batch = cur.fetchmany()
            if not batch:
                return
            for row in batch:
                yield RawRow(*row)

    def iter_events(self, run_id: str, from_seq: int = 1) -> Iterator[Envelope]:
        """Stream a run's events in order, decoded (the replay path: see ``EventCodec.decode_stored``)."""
        codec = self.codec
        builders = codec.stored_builders
        loads = orjson.loads
        new = _tuple_new
        cur = self.conn.execute(
            "SELECT seq, ts, type, payload, hash FROM events WHERE run_id = ? AND seq >= ? ORDER BY seq",
            (run_id, from_seq),
        )
        cur.arraysize = 512
        while True:
            batch = cur.fetchmany()
            if not batch:
                return
            # decode_stored, inlined over a whole fetch: this is most of a replay's time.
            try:
                envs = [
                    new(Envelope, (run_id, seq, ts, builders[tag](loads(payload)), h))
                    for seq, ts, tag, payload, h in batch
                ]
            except Exception:  # noqa: BLE001 - a row that does not fit gets the strict decoder and its error
                envs = [
                    new(Envelope, (run_id, seq, ts, codec.decode_stored(tag, payload, f"run {run_id} seq {seq}"), h))
                    for seq, ts, tag, payload, h in batch
                ]
            yield from envs

    def first_event(self, run_id: str) -> Envelope | None:
        return next(self.iter_events(run_id), None)


def _check_magic(path: Path) -> None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from exc
    if head and head != _SQLITE_MAGIC:
        raise ForeignDatabaseError(f"{path}: not an SQLite database (corrupt or a different kind of file)")
