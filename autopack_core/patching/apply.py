"""Governed apply: refuse, compute every file in memory, then write all or
nothing, through held folder descriptors.

Nothing touches the workspace until every edit has been checked and applied
in memory. Every folder is reached through ``fsaccess.WorkspaceFS`` (opened
component by component from the workspace root, never following a link), and
the same descriptors serve the reads, the writes and the rollback, so a folder
swapped for a link during the apply cannot redirect any of them. The write
phase first writes every new file in full as a temporary file in its target's
folder (in threads: it is I/O-bound), then moves each into place with
``os.replace``, so a reader sees the old or the new file, never half of one.
If any step fails, the files already replaced or deleted are restored from the
bytes read earlier, temporary files and the folders we created are removed,
and the result is checked before anyone is told the workspace was restored.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import attrs

from autopack_core.errors import PatchApplyError, PatchError, PatchRefusedError
from autopack_core.events import Refusal
from autopack_core.patching import binary
from autopack_core.patching import governance as gov
from autopack_core.patching.fsaccess import LinkInPath, WorkspaceFS
from autopack_core.patching.hunks import apply_blocks, apply_hunks
from autopack_core.patching.parse import (
    MODE_EXEC,
    MODE_FILE,
    MODE_GITLINK,
    MODE_LINK,
    FileEdit,
    parse_reply,
)

#: The workspace's own config (``config.DEFAULT_CONFIG_RELPATH``), protected
#: whatever the policy says: the policy must not be rewritten by the patch it
#: governs. Spelled out because config imports the policy from here.
CONFIG_RELPATH = "config/models.yaml"


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

    def raise_for_refusals(self) -> ApplyResult:
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


def _mode_of(st: os.stat_result) -> int:
    if stat.S_ISLNK(st.st_mode):
        return MODE_LINK
    if stat.S_ISDIR(st.st_mode):
        # A directory where the patch expects a file: like git with a
        # submodule, there is nothing to patch, only something in the way.
        return MODE_GITLINK
    return MODE_EXEC if st.st_mode & 0o100 else MODE_FILE


class _Workspace:
    """The workspace as the patch sees it: disk (through held descriptors),
    overlaid by earlier edits."""

    def __init__(self, fs: WorkspaceFS) -> None:
        self.fs = fs
        self.planned: dict[str, _Entry] = {}
        self.original: dict[str, tuple[_Entry, int]] = {}

    def _disk(self, path: str) -> _Entry:
        if path in self.original:
            return self.original[path][0]
        self.original[path] = _read_entry(self.fs, path)
        return self.original[path][0]

    def get(self, path: str) -> _Entry:
        return self.planned[path] if path in self.planned else self._disk(path)

    def set(self, path: str, entry: _Entry) -> None:
        self._disk(path)
        self.planned[path] = entry

    def original_mode(self, path: str) -> int:
        return self._disk(path).mode

    def changes(self) -> list[tuple[str, _Entry]]:
        return [(p, e) for p, e in self.planned.items() if e != self.original[p][0]]

    def link_on_disk(self, path: str) -> bytes | None:
        """Target of the symlink at ``path`` on disk, or None (not a link,
        missing, or below a link: then it is not reachable as ``path``)."""
        try:
            st = self.fs.lstat(path)
            return self.fs.readlink(path) if st is not None and stat.S_ISLNK(st.st_mode) else None
        except OSError:
            return None

    def link_after(self, path: str) -> bytes | None:
        """Target of the symlink at ``path`` once the patch is applied."""
        if path in self.planned:
            e = self.planned[path]
            return e.content if e.mode == MODE_LINK else None
        return self.link_on_disk(path)


def _read_entry(fs: WorkspaceFS, path: str) -> tuple[_Entry, int]:
    st = fs.lstat(path)
    if st is None:
        return _ABSENT, 0
    perm = stat.S_IMODE(st.st_mode)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        # Opening a FIFO or device to read it could block or have effects.
        raise PatchApplyError(f"{path}: not a regular file", path=path)
    mode = _mode_of(st)
    if mode == MODE_LINK:
        return _Entry(fs.readlink(path), MODE_LINK), perm
    if mode == MODE_GITLINK:
        return _Entry(b"", MODE_GITLINK), perm
    return _Entry(fs.read(path, st.st_size), mode), perm


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
        if e.old_mode is not None and e.new_mode is not None and not _same_type(e.old_mode, e.new_mode):
            # As git: a type change (file <-> symlink) is a deletion and a
            # creation, never mode lines on one diff.
            raise PatchApplyError(
                f"{name}: new mode ({e.new_mode:o}) does not match old mode ({e.old_mode:o})", path=name
            )
        if e.old_mode is not None and not _same_type(e.old_mode, base.mode):
            raise PatchApplyError(f"{e.old_path}: wrong type (the patch expects mode {e.old_mode:o})", path=name)
    if e.binary:
        content = _apply_binary(e, base.content or b"", policy.max_binary_bytes)
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


def _apply_binary(e: FileEdit, old: bytes, max_size: int) -> bytes:
    # Like git: without full object ids there is no way to know the binary
    # data was made for this file, so refuse to guess.
    name = e.path
    if e.binary_payload is None:
        raise PatchApplyError(
            f"{name}: a binary change without binary data ('Binary files ... differ') cannot be applied", path=name
        )
    if len(e.old_oid) != 40 or len(e.new_oid) != 40:
        raise PatchApplyError(f"{name}: cannot apply binary patch without binary data and a full index line", path=name)
    if e.old_path is not None and binary.blob_id(old) != e.old_oid:
        raise PatchApplyError(f"{name}: binary patch does not match the current file", path=name)
    kind, data = e.binary_payload
    if kind == "corrupt":
        raise PatchApplyError(f"{name}: corrupt binary patch ({data.decode()})", path=name)
    try:
        new = binary.apply_delta(old, data, max_size) if kind == "delta" else data
    except binary.TooLarge:
        raise  # a refusal (binary-too-large), not a failure to apply
    except ValueError as exc:
        raise PatchApplyError(f"{name}: binary patch does not apply ({exc})", path=name) from None
    if e.new_path is not None and binary.blob_id(new) != e.new_oid:
        raise PatchApplyError(f"{name}: binary patch result does not match its index line", path=name)
    return new


def _lexical_refusals(edits: Sequence[FileEdit], policy: gov.GovernancePolicy) -> list[Refusal]:
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
    return out


def _disk_refusals(edits: Sequence[FileEdit], fs: WorkspaceFS) -> list[Refusal]:
    """Paths that passed the lexical checks, looked up through held folder
    descriptors: no folder on the way to anything read, written, renamed,
    copied or deleted may be a symlink."""
    out: list[Refusal] = []
    seen: set[tuple[str, str]] = set()
    for e in edits:
        for p in {p for p in (e.old_path, e.new_path) if p is not None}:
            rs = gov.check_parents(p, fs)
            try:
                link = not rs and gov.is_symlink(p, fs)
            except OSError as exc:
                # Not knowing whether it is a link must not read as "it is not".
                raise PatchApplyError(f"{p}: cannot inspect ({exc.strerror})", path=p) from exc
            # Replacing or removing a link the patch knows is a link is fine;
            # anything else would read or write through it.
            if link and not (p == e.old_path and e.old_mode == MODE_LINK):
                rs = [
                    Refusal(
                        path=p,
                        rule=gov.SYMLINK_WRITE,
                        message="path is a symlink; reading or writing through it is refused",
                    )
                ]
            for r in rs:
                if (r.path, r.rule) not in seen:
                    seen.add((r.path, r.rule))
                    out.append(r)
    return out


def _plan_refusals(ws: _Workspace, policy: gov.GovernancePolicy) -> list[Refusal]:
    out: list[Refusal] = []
    changes = ws.changes()
    links = {p for p, e in ws.planned.items() if e.mode == MODE_LINK and e.content is not None}
    for path, entry in changes:
        parents = path.split("/")
        through = next(("/".join(parents[:k]) for k in range(1, len(parents)) if "/".join(parents[:k]) in links), None)
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
            # Judged against the whole tree after the patch: links made
            # earlier or later in this reply, and links already on disk.
            out += gov.check_symlink_target(path, entry.content, policy, ws.link_after)
        if entry.mode != ws.original_mode(path):
            out += gov.check_exec(path, entry.mode, policy)
    if any(e.mode == MODE_LINK or ws.original_mode(p) == MODE_LINK for p, e in changes):
        out += _kept_link_refusals(ws, policy)
    return out


def _kept_link_refusals(ws: _Workspace, policy: gov.GovernancePolicy) -> list[Refusal]:
    """A patch that adds, retargets or removes a link can change where the
    links it keeps lead (``m/../..`` once ``m`` becomes ``m -> .``). Refuse
    when a kept link would lead somewhere it may not, unless it already did
    (a hostile link put there by someone else is not this patch's doing)."""
    out = []
    try:
        for path, target in ws.fs.links():
            if path in ws.planned:
                continue
            why = gov.judge_link(path, target, policy, ws.link_after)
            if why is not None and gov.judge_link(path, target, policy, ws.link_on_disk) is None:
                shown = target.decode("utf-8", "surrogateescape")
                out.append(
                    Refusal(
                        path=path,
                        rule=gov.SYMLINK_ESCAPE,
                        message=f"existing symlink to {shown!r} {why} once this patch is applied",
                    )
                )
    except OSError as exc:
        # A folder that cannot be read may hold a link this patch redirects.
        return [
            Refusal(
                path=exc.filename or ".",
                rule=gov.SYMLINK_ESCAPE,
                message=f"cannot look for symlinks this patch could redirect ({exc.strerror})",
            )
        ]
    return out


def _stage(fs: WorkspaceFS, path: str, entry: _Entry, perm: int | None) -> str:
    """Write ``entry`` to a new temporary file in ``path``'s held folder."""
    try:
        if entry.mode == MODE_LINK:
            return fs.stage(path, entry.content or b"", link=True)
        if perm is None:
            return fs.stage(path, entry.content or b"", create_mode=0o777 if entry.mode == MODE_EXEC else 0o666)
        # Executable for whoever may read it, as chmod +x would do.
        create = (perm | (perm & 0o444) >> 2 | 0o100) if entry.mode == MODE_EXEC else perm & ~0o111
        # An explicit mode is not subject to the umask, so an existing file
        # keeps its permissions apart from the executable bits.
        return fs.stage(path, entry.content or b"", create_mode=create, chmod=create if create & _UMASK else None)
    except OSError as exc:
        exc.filename = path
        raise


def _replace(fs: WorkspaceFS, tmp: str, path: str) -> bool:
    try:
        fs.replace(tmp, path)
    except OSError as exc:
        exc.filename = path
        raise
    return True


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


class _Moved(OSError):
    """A folder the patch wrote into was swapped or moved while it was written."""


def _write_plan(ws: _Workspace) -> None:
    fs = ws.fs
    changes = ws.changes()
    done: list[str] = []
    staged: list[tuple[str, str]] = []
    try:
        # Deletions first, so a file may give way to a directory of its name.
        for path, entry in changes:
            if entry.content is None and ws.original[path][0].content is not None:
                try:
                    fs.unlink(path)
                except OSError as exc:
                    exc.filename = path
                    raise
                done.append(path)
        writes = [(p, e) for p, e in changes if e.content is not None]
        jobs = []
        for path, entry in writes:
            # Every folder is opened (or made) here, before the threads start:
            # they only use descriptors already held.
            try:
                fs.parent(path, create=True)
            except NotADirectoryError as exc:
                raise PatchApplyError(f"{path}: {exc.filename} is not a directory", path=path) from None
            except LinkInPath as exc:
                raise PatchApplyError(f"{path}: {exc.rel} became a symlink during the apply", path=path) from None
            old, perm = ws.original[path]
            jobs.append((fs, path, entry, perm if old.content is not None and old.mode != MODE_LINK else None))
        # Every new file is written in full before any target is replaced, so
        # most failures (disk full, permissions) leave targets untouched.
        tmps, error = _each(_stage, jobs)
        staged = [(job[1], t) for t, job in zip(tmps, jobs, strict=True) if t is not None]
        if error is not None:
            raise error
        moved, error = _each(_replace, [(fs, t, p) for p, t in staged])
        done += [p for (p, _), ok in zip(staged, moved, strict=True) if ok]
        staged = [s for s, ok in zip(staged, moved, strict=True) if not ok]
        if error is not None:
            raise error
        swapped = fs.moved_folders()
        if swapped:
            # Our writes went into the folders we checked, but the workspace
            # no longer holds them where the patch said: undo rather than
            # report a tree nobody asked for.
            raise _Moved(errno.ESTALE, "a folder was moved or replaced during the apply", swapped[0])
    except BaseException as exc:
        for path, tmp in staged:
            fs.discard(path, tmp)
        _rollback(ws, done)
        left = _unrestored(ws, changes)
        if isinstance(exc, PatchError) and not left:
            raise
        what = str(exc) if isinstance(exc, PatchError) else None
        if isinstance(exc, OSError):
            what = f"writing the patch failed ({exc.strerror}: {exc.filename or ''})"
        if what is None:
            raise
        if left:
            shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
            raise PatchApplyError(f"{what}; workspace NOT restored: {shown} differ from before") from exc
        raise PatchApplyError(f"{what}; workspace restored") from exc
    # Like git, drop directories a deletion left empty.
    for path, entry in changes:
        if entry.content is None:
            parent = path.rpartition("/")[0]
            while parent and fs.rmdir(parent):
                parent = parent.rpartition("/")[0]


def _rollback(ws: _Workspace, done: list[str]) -> None:
    """Put back every path in ``done`` and remove the folders we made,
    through the same held descriptors the writes used."""
    fs = ws.fs
    for path in reversed(done):
        old, perm = ws.original[path]
        try:
            if old.content is None:
                fs.unlink(path)
            else:
                tmp = _stage(fs, path, old, perm if old.mode != MODE_LINK else None)
                try:
                    _replace(fs, tmp, path)
                except OSError:
                    fs.discard(path, tmp)
                    raise
        except Exception:  # noqa: BLE001, S110 - undo the rest; _unrestored reports what stayed
            pass
    for d in reversed(fs.made):
        fs.rmdir(d)


def _unrestored(ws: _Workspace, changes: list[tuple[str, _Entry]]) -> list[str]:
    """What is not as before after a rollback, checked rather than assumed:
    every changed path (bytes, type, permissions), the folders we made, our
    temporary files, and whether every folder is still where it was."""
    fs = ws.fs
    bad = [f"{d} (moved or replaced by another process)" for d in fs.moved_folders()]
    for path, _ in changes:
        try:
            now = _read_entry(fs, path)
        except (OSError, PatchError):
            bad.append(path)
            continue
        old, perm = ws.original[path]
        if now[0] != old or (old.content is not None and old.mode != MODE_LINK and now[1] != perm):
            bad.append(path)
    for d in fs.made:
        try:
            if fs.lstat(d) is not None:
                bad.append(d)
        except OSError:
            bad.append(d)
    bad += fs.leftover_temps()
    return bad


def governed_apply(
    edits: Sequence[FileEdit] | str | bytes,
    workspace: str | os.PathLike[str],
    policy: gov.GovernancePolicy = gov.DEFAULT_POLICY,
    *,
    dry_run: bool = False,
) -> ApplyResult:
    """Apply parsed ``edits`` (from ``parse_reply``) to ``workspace`` under
    ``policy``, all or nothing.

    The executor parses a Builder reply once and passes the edits; reply text
    is accepted too and parsed here, for callers that only have text.
    The workspace's ``config/models.yaml`` is always protected (the policy must
    not be rewritten by the patch it governs); ``protect_config`` adds a config
    file named elsewhere.

    Returns an ``ApplyResult``; when governance refuses, ``result.refusals``
    says why and nothing was written. Raises ``PatchParseError`` when the
    reply holds no readable edit and ``PatchApplyError`` when an allowed edit
    does not fit the files (in both cases nothing was written either).
    With ``dry_run`` every check runs but nothing is written.
    """
    if isinstance(edits, (str, bytes)):
        too_large = gov.check_patch_size(len(edits), policy)
        if too_large:
            return ApplyResult(files=(), refusals=tuple(too_large), dry_run=dry_run)
        edits = parse_reply(edits, max_binary_bytes=policy.max_binary_bytes)
    policy = protect_config(policy, None, workspace)
    try:
        root = Path(os.path.realpath(workspace))
    except OSError as exc:
        raise PatchError(f"{workspace}: {exc.strerror}") from exc
    if not root.is_dir():
        raise PatchError(f"{workspace}: workspace is not a directory")
    fmt = format_of(edits)

    def refused(refusals: list[Refusal]) -> ApplyResult:
        return ApplyResult(files=(), refusals=tuple(refusals), dry_run=dry_run, format=fmt)

    refusals = _lexical_refusals(edits, policy)
    if refusals:
        return refused(refusals)
    try:
        fs = WorkspaceFS(root)
    except OSError as exc:
        raise PatchError(f"{workspace}: {exc.strerror}") from exc
    with fs:
        refusals = _disk_refusals(edits, fs)
        if refusals:
            return refused(refusals)
        ws = _Workspace(fs)
        sizes: dict[str, int] = {}
        total = 0
        for e in edits:
            try:
                _apply_edit(ws, e, policy)
                # Bounded work: stop as soon as what the patch would write
                # passes max_total_bytes, before computing (and holding) more.
                written = ws.planned[e.path].content
                total += len(written or b"") - sizes.get(e.path, 0)
                sizes[e.path] = len(written or b"")
                if total > policy.max_total_bytes:
                    return refused(gov.check_total(total, policy, path=e.path))
            except binary.TooLarge as exc:
                return refused([Refusal(path=e.path, rule=gov.BINARY_TOO_LARGE, message=str(exc))])
            except IsADirectoryError as exc:
                raise PatchApplyError(f"{e.path}: is a directory", path=e.path) from exc
            except LinkInPath as exc:
                raise PatchApplyError(f"{e.path}: {exc.rel} is a symlink", path=e.path) from exc
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM):
                    raise PatchApplyError(f"{e.path}: cannot read ({exc.strerror})", path=e.path) from exc
                raise PatchApplyError(f"{e.path}: {exc.strerror}", path=e.path) from exc
        refusals = _plan_refusals(ws, policy)
        if refusals:
            return refused(refusals)
        files = tuple(sorted(p for p, _ in ws.changes()))
        if not dry_run:
            _write_plan(ws)
    return ApplyResult(files=files, refusals=(), dry_run=dry_run, format=fmt)


def protect_config(
    policy: gov.GovernancePolicy, config_file: str | os.PathLike[str] | None, workspace: str | os.PathLike[str]
) -> gov.GovernancePolicy:
    """``policy`` with the config that governs this apply protected: the
    workspace's ``config/models.yaml`` always, and ``config_file`` too when it
    lies inside the workspace (a file outside cannot be reached by a patch)."""
    add = [CONFIG_RELPATH]
    if config_file is not None:
        try:
            rel = os.path.relpath(os.path.realpath(config_file), os.path.realpath(workspace))
        except (OSError, ValueError):
            rel = os.pardir
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep) and not os.path.isabs(rel):
            add.append(rel.replace(os.sep, "/"))
    extra = tuple(p for p in add if p not in policy.protected_paths)
    return attrs.evolve(policy, protected_paths=policy.protected_paths + extra) if extra else policy


def format_of(edits: Sequence[FileEdit]) -> str:
    """``diff``, ``search-replace`` or ``mixed``: the formats a reply's edits use."""
    if all(e.blocks for e in edits):
        return "search-replace"
    return "mixed" if any(e.blocks for e in edits) else "diff"
