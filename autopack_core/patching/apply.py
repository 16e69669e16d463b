"""Governed apply: parse, refuse, compute every file in memory, then write all
or nothing.

Nothing touches the workspace until every edit has been parsed, checked and
applied in memory. The write phase first writes every new file in full as a
temporary file next to its target (in threads: it is I/O-bound), then moves
each into place with ``os.replace``, so a reader sees the old or the new file,
never half of one. If any step fails, the files already replaced or deleted
are restored from the bytes read earlier, temporary files and the directories
we created are removed, and the workspace is as it was.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

import attrs

from autopack_core.errors import PatchApplyError, PatchError, PatchRefusedError
from autopack_core.events import PatchApplied, PatchProposed, PatchRefused, Refusal
from autopack_core.patching import binary
from autopack_core.patching import governance as gov
from autopack_core.patching.hunks import apply_blocks, apply_hunks
from autopack_core.patching.parse import MODE_EXEC, MODE_FILE, MODE_GITLINK, MODE_LINK, FileEdit, parse_reply


@attrs.frozen
class ApplyResult:
    """What a governed apply did (or, with ``dry_run``, would do).

    ``files`` are the workspace-relative paths written, created or deleted,
    sorted. ``refusals`` is empty unless governance refused the patch, in which
    case nothing was written.
    """

    files: tuple[str, ...]
    refusals: tuple[Refusal, ...] = ()
    dry_run: bool = False
    format: str = "diff"

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def applied(self) -> bool:
        return self.ok and not self.dry_run

    def raise_for_refusals(self) -> "ApplyResult":
        """Raise ``PatchRefusedError`` (carrying the refusals) if refused, for
        callers that prefer exceptions; return self otherwise."""
        if self.refusals:
            raise PatchRefusedError(self.refusals)
        return self


@attrs.frozen
class _Entry:
    """A file's state: ``content`` None means absent. ``mode`` is git's mode."""

    content: bytes | None
    mode: int = MODE_FILE


_ABSENT = _Entry(None, 0)
T = TypeVar("T")
_tmp_counter = itertools.count()


def _mode_of(st: os.stat_result) -> int:
    if stat.S_ISLNK(st.st_mode):
        return MODE_LINK
    if stat.S_ISDIR(st.st_mode):
        # A directory where the patch expects a file: like git with a
        # submodule, there is nothing to patch, only something in the way.
        return MODE_GITLINK
    return MODE_EXEC if st.st_mode & 0o100 else MODE_FILE


def _read(full: str, size: int) -> bytes:
    # O_NOFOLLOW: if the path became a symlink since it was checked, fail
    # rather than read (and later replace) what it points at.
    fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        chunks = [os.read(fd, size + 1)]
        # One read normally suffices; keep going only if the file grew.
        while len(chunks) == 1 and len(chunks[0]) > size or len(chunks) > 1 and chunks[-1]:
            chunks.append(os.read(fd, 1 << 20))
    finally:
        os.close(fd)
    return b"".join(chunks)


class _Workspace:
    """The workspace as the patch sees it: disk, overlaid by earlier edits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.planned: dict[str, _Entry] = {}
        self.original: dict[str, tuple[_Entry, int]] = {}

    def _disk(self, path: str) -> _Entry:
        if path in self.original:
            return self.original[path][0]
        full = os.path.join(self.root, path)
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            entry, perm = _ABSENT, 0
        else:
            perm = stat.S_IMODE(st.st_mode)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                # Opening a FIFO or device to read it could block or have effects.
                raise PatchApplyError(f"{path}: not a regular file", path=path)
            mode = _mode_of(st)
            if mode == MODE_LINK:
                entry = _Entry(os.fsencode(os.readlink(full)), MODE_LINK)
            elif mode == MODE_GITLINK:
                entry = _Entry(b"", MODE_GITLINK)
            else:
                entry = _Entry(_read(full, st.st_size), mode)
        self.original[path] = (entry, perm)
        return entry

    def get(self, path: str) -> _Entry:
        return self.planned[path] if path in self.planned else self._disk(path)

    def set(self, path: str, entry: _Entry) -> None:
        self._disk(path)
        self.planned[path] = entry

    def original_mode(self, path: str) -> int:
        return self._disk(path).mode

    def changes(self) -> list[tuple[str, _Entry]]:
        return [(p, e) for p, e in self.planned.items() if e != self.original[p][0]]


def _same_type(a: int, b: int) -> bool:
    return stat.S_IFMT(a) == stat.S_IFMT(b)


def _apply_edit(ws: _Workspace, e: FileEdit, policy: gov.GovernancePolicy) -> None:
    name = e.path
    if e.is_new:
        base = _Entry(b"", e.new_mode or MODE_FILE)
        if ws.get(name).content is not None:
            raise PatchApplyError(f"{name}: already exists in the workspace", path=name)
    else:
        base = ws.get(e.old_path)  # type: ignore[arg-type]
        if base.content is None:
            if e.blocks and all(not b.search.strip() for b in e.blocks):
                base = _Entry(None, MODE_FILE)
            else:
                raise PatchApplyError(f"{e.old_path}: no such file in the workspace", path=e.old_path or "")
        if base.mode == MODE_GITLINK:
            raise PatchApplyError(f"{e.old_path}: is a directory", path=e.old_path or "")
        if e.old_mode is not None and not _same_type(e.old_mode, base.mode):
            raise PatchApplyError(
                f"{e.old_path}: wrong type (the patch expects mode {e.old_mode:o})", path=name
            )
    if e.binary:
        content = _apply_binary(e, base.content or b"")
    elif e.blocks:
        content = apply_blocks(base.content, e.blocks, path=name)
    elif e.hunks:
        content = apply_hunks(base.content or b"", e.hunks, path=name, fuzz=policy.fuzz)
    else:
        content = base.content or b""
    if e.is_delete:
        if content:
            raise PatchApplyError(f"{name}: removal patch leaves file contents", path=name)
        ws.set(e.old_path, _ABSENT)  # type: ignore[arg-type]
        return
    mode = e.new_mode if e.new_mode is not None else base.mode
    if mode == MODE_GITLINK:
        raise PatchApplyError(f"{name}: submodule changes cannot be applied", path=name)
    if e.old_path is not None and e.old_path != e.new_path:
        target = ws.get(name)
        if target.content is not None:
            raise PatchApplyError(f"{name}: already exists in the workspace", path=name)
        if not e.is_copy:
            ws.set(e.old_path, _ABSENT)
    parts = name.split("/")
    for k in range(1, len(parts)):
        parent = "/".join(parts[:k])
        # A parent that becomes a symlink in this patch is refused by governance.
        if ws.get(parent).mode not in (0, MODE_GITLINK, MODE_LINK):
            raise PatchApplyError(f"{name}: {parent} is not a directory", path=name)
    ws.set(name, _Entry(content, mode))


def _apply_binary(e: FileEdit, old: bytes) -> bytes:
    # Like git: without full object ids there is no way to know the binary
    # data was made for this file, so refuse to guess.
    name = e.path
    if e.binary_payload is None:
        raise PatchApplyError(
            f"{name}: a binary change without binary data ('Binary files ... differ') cannot be applied", path=name
        )
    if len(e.old_oid) != 40 or len(e.new_oid) != 40:
        raise PatchApplyError(
            f"{name}: cannot apply binary patch without binary data and a full index line", path=name
        )
    if e.old_path is not None and binary.blob_id(old) != e.old_oid:
        raise PatchApplyError(f"{name}: binary patch does not match the current file", path=name)
    kind, data = e.binary_payload
    if kind == "corrupt":
        raise PatchApplyError(f"{name}: corrupt binary patch ({data.decode()})", path=name)
    try:
        new = binary.apply_delta(old, data) if kind == "delta" else data
    except ValueError as exc:
        raise PatchApplyError(f"{name}: binary patch does not apply ({exc})", path=name) from None
    if e.new_path is not None and binary.blob_id(new) != e.new_oid:
        raise PatchApplyError(f"{name}: binary patch result does not match its index line", path=name)
    return new


def _lexical_refusals(edits: list[FileEdit], root: Path, policy: gov.GovernancePolicy) -> list[Refusal]:
    out: list[Refusal] = []
    seen: set[tuple[str, str]] = set()

    def add(rs: list[Refusal]) -> None:
        for r in rs:
            if (r.path, r.rule) not in seen:
                seen.add((r.path, r.rule))
                out.append(r)

    for e in edits:
        for p in {p for p in (e.old_path, e.new_path) if p is not None}:
            add(gov.check_path(p, policy))
        if e.binary and not policy.allow_binary_patches:
            without = "" if e.binary_payload else " (a binary change without data: 'Binary files ... differ')"
            add(
                [
                    Refusal(
                        path=e.path,
                        rule=gov.BINARY_PATCH,
                        message=f"binary patches are not allowed by the policy{without}",
                    )
                ]
            )
        if e.binary_payload is not None and e.binary_payload[0] == "too-large":
            add([Refusal(path=e.path, rule=gov.BINARY_TOO_LARGE, message=e.binary_payload[1].decode())])
        if e.new_mode != e.old_mode:
            # An index line repeats an unchanged mode; only a change sets the bit.
            add(gov.check_exec(e.path, e.new_mode, policy))
        for h in e.hunks:
            if len(h.lines) > policy.max_hunk_lines:
                add(
                    [
                        Refusal(
                            path=e.path,
                            rule=gov.HUNK_TOO_LARGE,
                            message=f"hunk {h.index} has {len(h.lines)} lines; the limit is {policy.max_hunk_lines}",
                        )
                    ]
                )
    if out:
        return out
    # Only paths that passed the lexical checks are looked up on disk.
    cache = gov.LstatCache(root)
    for e in edits:
        for p in {p for p in (e.old_path, e.new_path) if p is not None}:
            add(gov.check_parents(p, cache))
            # Replacing or removing a link the patch knows is a link is fine;
            # anything else would write through it.
            if gov.is_symlink(p, cache) and not (p == e.old_path and e.old_mode == MODE_LINK):
                add(
                    [
                        Refusal(
                            path=p,
                            rule=gov.SYMLINK_WRITE,
                            message="path is a symlink; writing through it is refused",
                        )
                    ]
                )
    return out


def _plan_refusals(ws: _Workspace, policy: gov.GovernancePolicy) -> list[Refusal]:
    out: list[Refusal] = []
    links = {p for p, e in ws.planned.items() if e.mode == MODE_LINK and e.content is not None}
    for path, entry in ws.changes():
        parents = path.split("/")
        through = next(
            ("/".join(parents[:k]) for k in range(1, len(parents)) if "/".join(parents[:k]) in links), None
        )
        if through is not None:
            out.append(
                Refusal(
                    path=path,
                    rule=gov.SYMLINK_WRITE,
                    message=f"parent {through} becomes a symlink in this patch; writing through it is refused",
                )
            )
        if entry.content is None:
            continue
        out += gov.check_size(path, len(entry.content), policy)
        if entry.mode == MODE_LINK:
            out += gov.check_link_name(path)
            out += gov.check_symlink_target(path, entry.content, policy)
        if entry.mode != ws.original_mode(path):
            out += gov.check_exec(path, entry.mode, policy)
    return out


def _tmp_name(full: str) -> str:
    # Short and independent of the target's name, which may already be at
    # the file system's length limit.
    return os.path.join(os.path.dirname(full), f".autopack-{os.getpid()}-{next(_tmp_counter)}.tmp")


def _stage(full: str, entry: _Entry, perm: int | None) -> str:
    """Write ``entry`` to a new temporary file beside ``full``; return its path."""
    tmp = _tmp_name(full)
    if entry.mode == MODE_LINK:
        os.symlink(os.fsdecode(entry.content or b""), tmp)
        return tmp
    if perm is None:
        create = 0o777 if entry.mode == MODE_EXEC else 0o666
    else:
        # Executable for whoever may read it, as chmod +x would do.
        create = (perm | (perm & 0o444) >> 2 | 0o100) if entry.mode == MODE_EXEC else perm & ~0o111
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), create)
    try:
        view = memoryview(entry.content or b"")
        while view:
            view = view[os.write(fd, view) :]
        if perm is not None and create & _UMASK:
            # An explicit mode is not subject to the umask, so an existing
            # file keeps its permissions apart from the executable bits.
            os.fchmod(fd, create)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    return tmp


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_file(full: str, entry: _Entry, perm: int | None) -> None:
    tmp = _stage(full, entry, perm)
    try:
        os.replace(tmp, full)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _read_umask() -> int:
    # os.umask can only be read by setting it, which races with other
    # threads; Linux reports it in /proc. Elsewhere assume the worst (always
    # chmod explicitly).
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777


_UMASK = _read_umask()
_pool: ThreadPoolExecutor | None = None
_PARALLEL_FROM = 2
_WORKERS = 8


def _each(fn: Callable[..., T], jobs: list[tuple]) -> tuple[list[T | None], BaseException | None]:
    """Run ``fn(*job)`` for every job, in threads when there are many (file
    creation is I/O-bound and releases the GIL). Returns every result (None
    where it failed) and the first error, after all jobs have finished, so the
    caller knows exactly what to undo."""
    global _pool
    results: list[T | None] = [None] * len(jobs)
    error: BaseException | None = None
    if len(jobs) < _PARALLEL_FROM:
        for k, job in enumerate(jobs):
            try:
                results[k] = fn(*job)
            except BaseException as exc:  # noqa: BLE001 - re-raised by the caller after cleanup
                error = exc
                break
        return results, error
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="autopack-apply")

    def run_slice(start: int, stop: int) -> BaseException | None:
        # One task per worker rather than per file: fewer hand-offs of the GIL.
        first: BaseException | None = None
        for k in range(start, stop):
            try:
                results[k] = fn(*jobs[k])
            except BaseException as exc:  # noqa: BLE001
                first = first or exc
        return first

    step = -(-len(jobs) // _WORKERS)
    futures = [_pool.submit(run_slice, k, min(k + step, len(jobs))) for k in range(0, len(jobs), step)]
    for fut in futures:
        # Wait for every task (no short-circuit): the caller must know about
        # every file that was written before it undoes them.
        failed = fut.result()
        error = error or failed
    return results, error


def _make_parents(root: str, path: str, created: list[str], known: set[str]) -> None:
    parts = path.split("/")[:-1]
    cur = root
    for part in parts:
        cur = os.path.join(cur, part)
        if cur in known:
            continue
        known.add(cur)
        try:
            os.mkdir(cur)
        except FileExistsError:
            st = os.lstat(cur)
            if not stat.S_ISDIR(st.st_mode):
                raise PatchApplyError(
                    f"{path}: {cur[len(root) + 1 :]} is not a directory", path=path
                ) from None
            continue
        created.append(cur)


def _replace(tmp: str, full: str) -> bool:
    os.replace(tmp, full)
    return True


def _write_plan(ws: _Workspace) -> None:
    root = str(ws.root)
    changes = ws.changes()
    done: list[str] = []
    created_dirs: list[str] = []
    staged: list[str] = []
    try:
        # Deletions first, so a file may give way to a directory of its name.
        for path, entry in changes:
            if entry.content is None and ws.original[path][0].content is not None:
                os.unlink(os.path.join(root, path))
                done.append(path)
        writes = [(p, e) for p, e in changes if e.content is not None]
        jobs = []
        known_dirs: set[str] = set()
        for path, entry in writes:
            _make_parents(root, path, created_dirs, known_dirs)
            old, perm = ws.original[path]
            jobs.append(
                (
                    os.path.join(root, path),
                    entry,
                    perm if old.content is not None and old.mode != MODE_LINK else None,
                )
            )
        # Every new file is written in full before any target is replaced, so
        # most failures (disk full, permissions) leave targets untouched.
        tmps, error = _each(_stage, jobs)
        staged = [t for t in tmps if t is not None]
        if error is not None:
            raise error
        moved, error = _each(_replace, [(tmp, job[0]) for tmp, job in zip(tmps, jobs, strict=True)])
        done += [path for (path, _), ok in zip(writes, moved, strict=True) if ok]
        staged = [tmp for tmp, ok in zip(tmps, moved, strict=True) if not ok]  # type: ignore[misc]
        if error is not None:
            raise error
        staged = []
    except BaseException as exc:
        for tmp in staged:
            _unlink_quietly(tmp)
        _rollback(ws, done, created_dirs)
        if isinstance(exc, PatchError):
            raise
        if isinstance(exc, OSError):
            where = exc.filename or ""
            raise PatchApplyError(
                f"writing the patch failed ({exc.strerror}: {where}); workspace restored"
            ) from exc
        raise
    # Like git, drop directories a deletion left empty.
    for path, entry in changes:
        if entry.content is None:
            d = os.path.dirname(os.path.join(root, path))
            while d != root and len(d) > len(root):
                try:
                    os.rmdir(d)
                except OSError:
                    break
                d = os.path.dirname(d)


def _rollback(ws: _Workspace, done: list[str], created_dirs: list[str]) -> None:
    root = str(ws.root)
    for path in reversed(done):
        full = os.path.join(root, path)
        old, perm = ws.original[path]
        try:
            if old.content is None:
                os.unlink(full)
            else:
                _write_file(full, old, perm if old.mode != MODE_LINK else None)
        except OSError:
            pass
    for d in reversed(created_dirs):
        try:
            os.rmdir(d)
        except OSError:
            pass


def governed_apply(
    reply: str | bytes,
    workspace: str | os.PathLike[str],
    policy: gov.GovernancePolicy = gov.DEFAULT_POLICY,
    *,
    dry_run: bool = False,
) -> ApplyResult:
    """Apply a Builder reply to ``workspace`` under ``policy``, all or nothing.

    Returns an ``ApplyResult``; when governance refuses, ``result.refusals``
    says why and nothing was written. Raises ``PatchParseError`` when the
    reply holds no readable edit and ``PatchApplyError`` when an allowed edit
    does not fit the files (in both cases nothing was written either).
    With ``dry_run`` every check runs but nothing is written.
    """
    too_large = gov.check_patch_size(len(reply), policy)
    if too_large:
        return ApplyResult(files=(), refusals=tuple(too_large), dry_run=dry_run)
    edits = parse_reply(reply, max_binary_bytes=policy.max_binary_bytes)
    try:
        root = Path(os.path.realpath(workspace))
    except OSError as exc:
        raise PatchError(f"{workspace}: {exc.strerror}") from exc
    if not root.is_dir():
        raise PatchError(f"{workspace}: workspace is not a directory")
    fmt = _format_of(edits)
    refusals = _lexical_refusals(edits, root, policy)
    if refusals:
        return ApplyResult(files=(), refusals=tuple(refusals), dry_run=dry_run, format=fmt)
    ws = _Workspace(root)
    sizes: dict[str, int] = {}
    total = 0
    for e in edits:
        try:
            _apply_edit(ws, e, policy)
            # Bounded work: stop as soon as what the patch would write passes
            # max_total_bytes, before computing (and holding) any more.
            written = ws.planned[e.path].content
            total += len(written or b"") - sizes.get(e.path, 0)
            sizes[e.path] = len(written or b"")
            if total > policy.max_total_bytes:
                return ApplyResult(
                    files=(), refusals=tuple(gov.check_total(total, policy, path=e.path)), dry_run=dry_run, format=fmt
                )
        except IsADirectoryError as exc:
            raise PatchApplyError(f"{e.path}: is a directory", path=e.path) from exc
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise PatchApplyError(f"{e.path}: cannot read ({exc.strerror})", path=e.path) from exc
            raise PatchApplyError(f"{e.path}: {exc.strerror}", path=e.path) from exc
    refusals = _plan_refusals(ws, policy)
    if refusals:
        return ApplyResult(files=(), refusals=tuple(refusals), dry_run=dry_run, format=fmt)
    files = tuple(sorted(p for p, _ in ws.changes()))
    if not dry_run:
        _write_plan(ws)
    return ApplyResult(files=files, refusals=(), dry_run=dry_run, format=fmt)


def proposed_event(phase_id: str, reply: str | bytes) -> PatchProposed:
    """The ``PatchProposed`` event for a Builder reply: its text, format and
    the files it names. Raises ``PatchParseError`` like ``governed_apply``."""
    edits = parse_reply(reply)
    text = reply if isinstance(reply, str) else reply.decode("utf-8", "surrogateescape")
    files = sorted({p for e in edits for p in (e.old_path, e.new_path) if p is not None})
    return PatchProposed(phase_id=phase_id, text=text, format=_format_of(edits), files=tuple(files))


def _format_of(edits: list[FileEdit]) -> str:
    if all(e.blocks for e in edits):
        return "search-replace"
    return "mixed" if any(e.blocks for e in edits) else "diff"


def refused_event(phase_id: str, result: ApplyResult | PatchError | tuple[Refusal, ...]) -> PatchRefused:
    """The ``PatchRefused`` event for a refusal (an ``ApplyResult``, a
    ``PatchRefusedError`` or the refusals themselves)."""
    if isinstance(result, ApplyResult):
        reasons = result.refusals
    elif isinstance(result, PatchError):
        reasons = tuple(getattr(result, "refusals", ()))
    else:
        reasons = tuple(result)
    return PatchRefused(phase_id=phase_id, reasons=tuple(reasons))


def applied_event(phase_id: str, result: ApplyResult, commit: str = "") -> PatchApplied:
    """The ``PatchApplied`` event for a successful apply."""
    return PatchApplied(phase_id=phase_id, files=result.files, commit=commit)
