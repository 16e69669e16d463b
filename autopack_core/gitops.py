"""All of Autopack's git work, through dulwich (no git CLI at run time).

Design choices, in one place:

- Commits are built as objects and the ref is moved with a compare-and-swap.
  No porcelain ``commit`` is used, so the workspace's hooks (including a
  ``core.hooksPath``) can never run and ``commit.gpgsign`` never signs: the
  code path that would do either does not exist here.
- Staging is ``git add -A`` semantics computed from the worktree: tracked
  files are compared through the index's stat cache (only files whose
  stat or mode changed, or that are "racily clean", are read and hashed),
  untracked files are found by a directory walk that honours ``.gitignore``,
  ``info/exclude`` and ``core.excludesFile``. The index is rewritten after a
  checkpoint so the next one, and the user's ``git status``, stay cheap.
- The state folder (``.autopack/``) is never staged, listed, diffed or
  removed, whether or not ``ensure_state_excluded`` has been called.
- File contents go in and out byte for byte: no end-of-line conversion and no
  filter drivers (a ``filter.*.clean`` command is code from the repository,
  like a hook, and is not run). Nested repositories and submodules are left
  alone.
- A detached HEAD and an unborn branch work in every method (a checkpoint on
  an unborn branch makes the root commit; on a detached HEAD it moves HEAD).
  A *run* needs a branch and a commit to come back to: ``start_point`` is the
  one call that refuses the other two states, with a message saying what to do.
- ``reset_hard`` is ``git reset --hard`` plus removing untracked files that are
  not ignored (what ``git clean -fd`` would remove): a run starts from a clean
  workspace, so every such file is one the run added. Ignored files stay.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import io
import os
import re
import shutil
import stat
import struct
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Self

from dulwich.errors import NotGitRepository
from dulwich.ignore import IgnoreFilterManager
from dulwich.index import (
    ConflictedIndexEntry,
    Index,
    IndexEntry,
    index_entry_from_stat,
    validate_path_element_default,
)
from dulwich.objects import S_IFGITLINK, Blob, Commit, Tree
from dulwich.patch import is_binary
from dulwich.refs import check_ref_format
from dulwich.repo import Repo

from autopack_core.errors import WorkspaceError

AUTOPACK_AUTHOR = b"Autopack <autopack@localhost>"
STATE_FOLDER = ".autopack"
# What git keeps while a merge, cherry-pick or revert is under way; `git commit`
# and `git reset --hard` remove it.
_OPERATION_STATE = (
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "MERGE_RR",
    "AUTO_MERGE",
    "SQUASH_MSG",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
)

_MODE_FILE = 0o100644
_MODE_EXEC = 0o100755
_MODE_LINK = 0o120000
_TRAILER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_O_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

Flat = dict[bytes, tuple[int, bytes]]  # path -> (mode, blob sha)
IndexMap = dict[bytes, "IndexEntry | ConflictedIndexEntry"]
_ENTRY = struct.Struct(">10L20sH")


def _ns(t: float | tuple[int, int]) -> int:
    if isinstance(t, tuple):
        return t[0] * 1_000_000_000 + t[1]
    return int(t * 1_000_000_000)


def _show(path: bytes) -> str:
    return os.fsdecode(path)


class _Scan:
    """The worktree as ``git add -A`` would stage it, compared with the index."""

    __slots__ = ("blobs", "conflicts", "deleted", "entries", "index_changed", "modified", "untracked")

    def __init__(self) -> None:
        self.entries: dict[bytes, IndexEntry] = {}  # the index as it should be written
        self.blobs: dict[bytes, Blob] = {}  # sha -> blob read from the worktree this scan
        self.modified: list[bytes] = []
        self.deleted: list[bytes] = []
        self.untracked: list[bytes] = []
        self.index_changed = False  # entries differ from the index on disk (content or stat)
        self.conflicts: list[bytes] = []

    def flat(self) -> Flat:
        return {p: (e.mode, e.sha) for p, e in self.entries.items()}


class GitWorkspace:
    """A git working tree at ``path`` (its top level), read and changed through dulwich."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise WorkspaceError(f"{self.path}: no such directory")
        try:
            self._repo = Repo(str(self.path))
        except NotGitRepository:
            raise WorkspaceError(f"{self.path}: not a git repository (no .git here; run `git init` first)") from None
        if self._repo.bare:
            raise WorkspaceError(f"{self.path}: a bare git repository has no worktree to build in")
        self._root = os.fsencode(os.path.abspath(self.path))
        self._state = os.fsencode(STATE_FOLDER)
        self._state_dir = self._state + b"/"
        cfg = self._repo.get_config()
        self._filemode = cfg.get_boolean(b"core", b"filemode", True)
        self._index_cache: tuple[tuple[int, int, int], IndexMap] | None = None
        self._tree_cache: dict[frozenset, Tree] = {}
        self._stored: set[bytes] = set()  # objects known to be in the store (written or checked)
        # tracked_paths of one index (the very dict _read_index returns, so a changed index is a miss):
        # each path as bytes and as shown, both in git's order; a checkpoint carries it forward.
        self._tracked: tuple[IndexMap, list[bytes], list[str]] | None = None

    def close(self) -> None:
        """Release the repository's open pack files."""
        self._repo.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- refs ------------------------------------------------------------

    def head(self) -> str | None:
        try:
            sha = self._repo.refs[b"HEAD"]
        except KeyError:
            return None
        return sha.decode("ascii")

    def current_branch(self) -> str | None:
        target = self._repo.refs.read_ref(b"HEAD")
        if target and target.startswith(b"ref: refs/heads/"):
            return target[len(b"ref: refs/heads/") :].strip().decode("utf-8", "surrogateescape")
        return None

    def start_point(self) -> tuple[str, str]:
        """(branch, commit) a run starts from; refuses an unborn branch and a detached HEAD."""
        branch = self.current_branch()
        commit = self.head()
        if branch is None:
            where = f" at {commit[:12]}" if commit else ""
            raise WorkspaceError(
                f"{self.path}: HEAD is detached{where}: check out a branch first "
                "(for example `git switch -c work`) so the run's checkpoints have a branch to live on"
            )
        if commit is None:
            raise WorkspaceError(
                f"{self.path}: branch {branch!r} has no commits yet: make a first commit "
                "(for example `git commit --allow-empty -m init`) so a run can be rolled back to it"
            )
        return branch, commit

    def _resolve(self, commit: str) -> bytes:
        sha = commit.encode("ascii") if isinstance(commit, str) else commit
        try:
            obj = self._repo[sha]
        except (KeyError, ValueError):
            raise WorkspaceError(f"{self.path}: no commit {commit!r}") from None
        if not isinstance(obj, Commit):
            raise WorkspaceError(f"{self.path}: {commit!r} is not a commit")
        return obj.id

    @staticmethod
    def _branch_ref(name: str) -> bytes:
        ref = b"refs/heads/" + name.encode("utf-8")
        if not name or not check_ref_format(ref):
            raise WorkspaceError(f"invalid branch name {name!r}")
        return ref

    def branch_commit(self, name: str) -> str | None:
        try:
            return self._repo.refs[self._branch_ref(name)].decode("ascii")
        except KeyError:
            return None

    def create_branch(self, name: str, commit: str) -> None:
        """Create ``name`` at ``commit``; a no-op if it is already there, refused if it points elsewhere."""
        ref = self._branch_ref(name)
        sha = self._resolve(commit)
        if self._repo.refs.add_if_new(ref, sha, message=b"branch: created by autopack"):
            return
        existing = self.branch_commit(name)
        if existing != sha.decode("ascii"):
            raise WorkspaceError(f"{self.path}: branch {name!r} already exists at {existing}, not {commit}")

    def delete_branch(self, name: str) -> None:
        """Delete ``name`` if it exists; refuses the checked-out branch."""
        ref = self._branch_ref(name)
        if self.current_branch() == name:
            raise WorkspaceError(f"{self.path}: refusing to delete the checked-out branch {name!r}")
        if ref in self._repo.refs:
            self._repo.refs.remove_if_equals(ref, None, message=b"branch: deleted by autopack")

    # --- the state folder -------------------------------------------------

    def _info_exclude(self) -> Path:
        return Path(self._repo.commondir()) / "info" / "exclude"

    def ensure_state_excluded(self, folder: str = STATE_FOLDER) -> None:
        """Make git itself ignore ``folder`` through ``info/exclude`` (idempotent, no tracked file edited)."""
        line = f"/{folder.strip('/')}/"
        exclude = self._info_exclude()
        try:
            text = exclude.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            text = ""
        if line in (x.strip() for x in text.splitlines()):
            return
        exclude.parent.mkdir(parents=True, exist_ok=True)
        sep = "" if not text or text.endswith("\n") else "\n"
        with open(exclude, "a", encoding="utf-8", errors="surrogateescape") as f:
            f.write(f"{sep}# Autopack's state (event store); added by autopack\n{line}\n")

    def _is_state(self, path: bytes) -> bool:
        return path[:1] == b"." and (path == self._state or path.startswith(self._state_dir))

    # --- scanning the worktree --------------------------------------------

    def _index_path(self) -> str:
        return self._repo.index_path()

    def _read_index(self) -> tuple[IndexMap, int]:
        """The index entries and the index file's mtime (entries modified at or after it are "racily clean").

        The entries this object last wrote are reused while the file on disk is
        still the one it wrote (same mtime, size and inode).
        """
        path = self._index_path()
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return {}, 0
        sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._index_cache is not None and self._index_cache[0] == sig:
            return self._index_cache[1], st.st_mtime_ns
        try:
            entries = dict(Index(path).iteritems())
        except Exception as exc:  # noqa: BLE001 - dulwich raises several types for a damaged index
            raise WorkspaceError(f"{self.path}: cannot read the git index: {exc}") from None
        return entries, st.st_mtime_ns

    def _full(self, rel: bytes) -> bytes:
        return self._root + b"/" + rel

    def _mode_of(self, st: os.stat_result, old_mode: int | None) -> int | None:
        if stat.S_ISLNK(st.st_mode):
            return _MODE_LINK
        if not stat.S_ISREG(st.st_mode):
            return None
        if not self._filemode and old_mode in (_MODE_FILE, _MODE_EXEC):
            return old_mode
        return _MODE_EXEC if st.st_mode & stat.S_IXUSR else _MODE_FILE

    def _read_blob(self, rel: bytes, st: os.stat_result) -> Blob:
        full = self._full(rel)
        if stat.S_ISLNK(st.st_mode):
            return Blob.from_string(os.readlink(full))
        fd = os.open(full, _O_READ)
        try:
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read()
        finally:
            os.close(fd)
        return Blob.from_string(data)

    def _scan(self, index: IndexMap, index_mtime: int, *, want_untracked: bool = True) -> _Scan:
        scan = _Scan()
        real_dirs: dict[bytes, bool] = {b"": True}

        def real_dir(d: bytes) -> bool:
            # A tracked path under a directory that became a symlink is deleted
            # (git's has_symlink_leading_path): never read through the link.
            known = real_dirs.get(d)
            if known is not None:
                return known
            parent = d.rpartition(b"/")[0]
            ok = real_dir(parent)
            if ok:
                try:
                    ok = stat.S_ISDIR(os.lstat(self._full(d)).st_mode)
                except OSError:
                    ok = False
            real_dirs[d] = ok
            return ok

        for path, entry in index.items():
            if isinstance(entry, ConflictedIndexEntry):
                scan.conflicts.append(path)
                continue
            if self._is_state(path) or entry.mode == S_IFGITLINK or entry.skip_worktree:
                scan.entries[path] = entry
                continue
            st = None
            if real_dir(path.rpartition(b"/")[0]):
                try:
                    st = os.lstat(self._full(path))
                except (FileNotFoundError, NotADirectoryError):
                    st = None
            mode = self._mode_of(st, entry.mode) if st is not None else None
            if mode is None:
                scan.deleted.append(path)
                scan.index_changed = True
                continue
            if (
                mode == entry.mode
                and st.st_mtime_ns == _ns(entry.mtime)
                and st.st_ctime_ns == _ns(entry.ctime)
                and st.st_size == entry.size
                and st.st_ino == entry.ino
                and st.st_mtime_ns < index_mtime
            ):
                scan.entries[path] = entry
                continue
            try:
                blob = self._read_blob(path, st)
            except OSError:
                scan.deleted.append(path)
                scan.index_changed = True
                continue
            if blob.id != entry.sha or mode != entry.mode:
                scan.modified.append(path)
                scan.blobs[blob.id] = blob
            scan.entries[path] = index_entry_from_stat(st, blob.id, mode=mode)
            scan.index_changed = True

        if want_untracked:
            for rel, st in self._walk_untracked(index):
                mode = self._mode_of(st, None)
                if mode is None:
                    continue
                try:
                    blob = self._read_blob(rel, st)
                except OSError:
                    continue  # vanished or unreadable between the walk and the read
                scan.untracked.append(rel)
                scan.blobs[blob.id] = blob
                scan.entries[rel] = index_entry_from_stat(st, blob.id, mode=mode)
                scan.index_changed = True
        return scan

    def _ignores(self) -> IgnoreFilterManager:
        return IgnoreFilterManager.from_repo(self._repo)

    def _walk_untracked(self, index: IndexMap) -> Iterator[tuple[bytes, os.stat_result]]:
        """Files and symlinks not in the index and not ignored, like ``git status -uall``."""
        ignores = self._ignores()
        stack: list[bytes] = [b""]
        while stack:
            rel_dir = stack.pop()
            full_dir = self._full(rel_dir) if rel_dir else self._root
            try:
                it = os.scandir(full_dir)
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            with it:
                for de in it:
                    name = de.name
                    if name == b".git":
                        continue
                    rel = rel_dir + b"/" + name if rel_dir else name
                    if self._is_state(rel):
                        continue
                    try:
                        is_dir = de.is_dir(follow_symlinks=False)  # from the directory entry: no stat
                    except OSError:
                        continue
                    if is_dir:
                        if getattr(index.get(rel), "mode", None) == S_IFGITLINK:
                            continue  # a submodule
                        if os.path.lexists(self._full(rel) + b"/.git"):
                            continue  # a nested repository: not ours to add
                        if ignores.may_prune_directory(_show(rel) + "/"):
                            continue
                        stack.append(rel)
                    elif rel not in index:
                        try:
                            st = de.stat(follow_symlinks=False)
                        except OSError:
                            continue
                        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                            continue
                        if ignores.is_ignored(_show(rel)):
                            continue
                        yield rel, st

    # --- reading ------------------------------------------------------------

    def _tree_flat(self, tree_id: bytes | None) -> Flat:
        if tree_id is None:
            return {}
        out: Flat = {}
        store = self._repo.object_store
        for e in store.iter_tree_contents(tree_id):
            out[e.path] = (e.mode, e.sha)
        return out

    def _commit_tree(self, commit: str | bytes | None) -> bytes | None:
        if commit is None:
            return None
        sha = self._resolve(commit) if isinstance(commit, str) else commit
        return self._repo[sha].tree

    def _head_tree(self) -> bytes | None:
        head = self.head()
        return self._commit_tree(head) if head else None

    def tracked_paths(self) -> list[str]:
        index, _ = self._read_index()
        memo = self._tracked
        if memo is None or memo[0] is not index:
            raw = [p for p in sorted(index) if not self._is_state(p)]
            memo = self._tracked = (index, raw, [_show(p) for p in raw])
        return list(memo[2])

    def _carry_tracked(self, before: IndexMap, scan: _Scan) -> None:
        """After a checkpoint wrote ``scan.entries`` over ``before``: the tracked paths, by their change.

        The new index holds ``before``'s paths less the deleted plus the untracked (never
        state paths), so the listing is updated in place of sorting the whole index again.
        """
        memo = self._tracked
        cache = self._index_cache
        if memo is None or memo[0] is not before or cache is None:
            self._tracked = None
            return
        raw, shown = list(memo[1]), list(memo[2])
        for p in scan.deleted:
            i = bisect.bisect_left(raw, p)
            if i < len(raw) and raw[i] == p:
                del raw[i], shown[i]
        for p in scan.untracked:
            i = bisect.bisect_left(raw, p)
            if i == len(raw) or raw[i] != p:
                raw.insert(i, p)
                shown.insert(i, _show(p))
        self._tracked = (cache[1], raw, shown)

    def dirty(self) -> list[str]:
        """Every path ``git status`` would show: staged, modified, deleted, untracked (not ignored)."""
        index, mtime = self._read_index()
        scan = self._scan(index, mtime)
        head = self._tree_flat(self._head_tree())
        out = set(scan.modified) | set(scan.deleted) | set(scan.untracked) | set(scan.conflicts)
        staged = {p: (e.mode, e.sha) for p, e in index.items() if isinstance(e, IndexEntry)}
        for p in set(staged) | set(head):
            if staged.get(p) != head.get(p):
                out.add(p)
        return sorted(_show(p) for p in out if not self._is_state(p))

    def _worktree_tree(self, scan: _Scan, committed: Callable[[], Flat]) -> tuple[bytes, list[Tree]]:
        flat = scan.flat()
        state = [p for p in flat if self._is_state(p)]
        if state:
            # Tracked files of the state folder keep their committed version.
            head_flat = committed()
            for p in state:
                if p in head_flat:
                    flat[p] = head_flat[p]
                else:
                    del flat[p]
        return _build_trees(flat, self._tree_cache)

    def worktree_matches(self, commit: str) -> bool:
        """True when the worktree, staged as ``checkpoint`` would stage it, equals ``commit``'s tree."""
        tree = self._commit_tree(commit)
        index, mtime = self._read_index()
        scan = self._scan(index, mtime)
        if scan.conflicts:
            return False
        root, _ = self._worktree_tree(scan, lambda: self._tree_flat(tree))
        return root == tree

    def diff(self, base: str | None = None) -> str:
        """A git-style unified diff from ``base`` (default HEAD) to the worktree, new files included."""
        base_tree = self._commit_tree(base) if base is not None else self._head_tree()
        old = self._tree_flat(base_tree)
        index, mtime = self._read_index()
        scan = self._scan(index, mtime)
        new = {p: v for p, v in scan.flat().items() if not self._is_state(p)}
        old = {p: v for p, v in old.items() if not self._is_state(p)}
        out = io.BytesIO()
        for path in sorted(set(old) | set(new)):
            a, b = old.get(path), new.get(path)
            if a == b:
                continue
            if a and b and (a[0] == S_IFGITLINK or b[0] == S_IFGITLINK):
                continue
            _write_file_diff(out, path, a, b, lambda sha: self._blob(sha, scan))
        return out.getvalue().decode("utf-8", "surrogateescape")

    def _blob(self, sha: bytes, scan: _Scan) -> bytes:
        blob = scan.blobs.get(sha)
        if blob is not None:
            return blob.data
        return self._repo.object_store[sha].data

    # --- commits ----------------------------------------------------------

    def _store(self, blobs: Mapping[bytes, Blob], trees: list[Tree]) -> None:
        store = self._repo.object_store
        # Trees are listed leaves first, so a tree is never stored before what it names.
        for obj in [*blobs.values(), *trees]:
            oid = obj.id
            if oid in self._stored:
                continue
            if not store.contains_loose(oid) and oid not in store:
                store.add_object(obj)
            self._stored.add(oid)

    def _make_commit(self, tree: bytes, parents: list[bytes], message: str, trailers: Mapping[str, str]) -> Commit:
        text = message.rstrip("\n") + "\n"
        if trailers:
            lines = []
            for key, value in trailers.items():
                if not _TRAILER_KEY.match(key) or "\n" in str(value) or "\r" in str(value):
                    raise WorkspaceError(f"invalid commit trailer {key!r}: {value!r}")
                lines.append(f"{key}: {value}")
            text += "\n" + "\n".join(lines) + "\n"
        now = int(time.time())
        c = Commit()
        c.tree = tree
        c.parents = parents
        c.author = c.committer = AUTOPACK_AUTHOR
        c.author_time = c.commit_time = now
        c.author_timezone = c.commit_timezone = 0
        c.encoding = None
        c.message = text.encode("utf-8")
        return c

    def checkpoint(self, message: str, *, trailers: Mapping[str, str] = {}) -> str:
        """Stage every change (``git add -A``) and commit it on the current branch; returns the sha.

        A commit is made even when nothing changed, so a checkpoint's trailers
        are always findable by ``find_commit_by_trailer``.
        """
        index, mtime = self._read_index()
        scan = self._scan(index, mtime)
        if scan.conflicts:
            names = ", ".join(_show(p) for p in scan.conflicts[:5])
            raise WorkspaceError(f"{self.path}: unmerged paths in the index ({names}): resolve them first")
        head = self.head()
        head_sha = head.encode("ascii") if head else None
        root, trees = self._worktree_tree(scan, lambda: self._tree_flat(self._commit_tree(head_sha)))
        # A resolved merge is concluded as `git commit` concludes it: the merged
        # commits become parents, so the user's next commit is not a surprise merge.
        parents = ([head_sha] if head_sha else []) + self._merge_heads()
        commit = self._make_commit(root, parents, message, trailers)
        self._store(scan.blobs, trees)
        self._repo.object_store.add_object(commit)
        # The index first: if we stop between the two writes, the worktree and
        # index hold the change and the next checkpoint commits it again.
        self._write_index(scan.entries)
        self._carry_tracked(index, scan)
        self._move_head(head_sha, commit.id, b"commit (autopack): " + commit.message.split(b"\n", 1)[0])
        self._clear_operation_state()
        return commit.id.decode("ascii")

    def _merge_heads(self) -> list[bytes]:
        try:
            text = (Path(self._repo.controldir()) / "MERGE_HEAD").read_bytes()
        except FileNotFoundError:
            return []
        heads = [line.strip() for line in text.splitlines() if line.strip()]
        for h in heads:
            if len(h) != 40 or h not in self._repo.object_store:
                raise WorkspaceError(f"{self.path}: .git/MERGE_HEAD names an unknown commit {_show(h)!r}")
        return heads

    def _clear_operation_state(self) -> None:
        """Forget an interrupted merge, cherry-pick or revert, as `git commit` and `git reset` do."""
        control = Path(self._repo.controldir())
        for name in _OPERATION_STATE:
            try:
                (control / name).unlink()
            except FileNotFoundError:
                pass

    def _write_index(self, entries: Mapping[bytes, IndexEntry | ConflictedIndexEntry]) -> None:
        # Written afresh, without extensions: a kept cache-tree or untracked
        # cache would go stale and mislead git.
        path = self._index_path()
        data = _index_bytes(entries)
        try:
            if data is None:
                index = Index(path, read=False)
                for name, entry in entries.items():
                    index[name] = entry
                index.write()
            else:
                lock = path + ".lock"
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                os.replace(lock, path)
            st = os.stat(path)
        except FileExistsError:
            raise WorkspaceError(
                f"{self.path}: the git index is locked ({path}.lock exists: another git process?)"
            ) from None
        except OSError as exc:
            raise WorkspaceError(f"{self.path}: cannot write the git index: {exc}") from None
        self._index_cache = ((st.st_mtime_ns, st.st_size, st.st_ino), dict(entries))

    def _move_head(self, old: bytes | None, new: bytes, reflog: bytes) -> None:
        refs = self._repo.refs
        ok = (
            refs.set_if_equals(b"HEAD", old, new, message=reflog)
            if old is not None
            else refs.add_if_new(b"HEAD", new, message=reflog)
        )
        if not ok:
            raise WorkspaceError(f"{self.path}: HEAD moved while Autopack was committing (another git process?)")

    def find_commit_by_trailer(self, key: str, value: str, *, since: str | None = None) -> str | None:
        """The newest commit, walking first parents from HEAD back to (not including) ``since``,
        whose message has the trailer ``key: value``."""
        head = self.head()
        if head is None:
            return None
        stop = self._resolve(since) if since else None
        wanted = f"{key}: {value}".encode()
        sha: bytes | None = head.encode("ascii")
        while sha is not None and sha != stop:
            c = self._repo[sha]
            last = c.message.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
            if wanted in (line.strip() for line in last.split(b"\n")):
                return sha.decode("ascii")
            sha = c.parents[0] if c.parents else None
        return None

    def rescue(self, branch: str, message: str) -> str | None:
        """Commit uncommitted changes onto a new branch, touching neither worktree, index nor HEAD.

        Returns the commit's sha, or None when there is nothing uncommitted.
        """
        ref = self._branch_ref(branch)
        index, mtime = self._read_index()
        scan = self._scan(index, mtime)
        if scan.conflicts:
            names = ", ".join(_show(p) for p in scan.conflicts[:5])
            raise WorkspaceError(f"{self.path}: unmerged paths in the index ({names}): resolve them first")
        head = self.head()
        head_sha = head.encode("ascii") if head else None
        head_tree = self._commit_tree(head_sha) if head_sha else None
        root, trees = self._worktree_tree(scan, lambda: self._tree_flat(head_tree))
        if root == head_tree or (head_tree is None and not scan.entries):
            return None
        commit = self._make_commit(root, [head_sha] if head_sha else [], message, {})
        self._store(scan.blobs, trees)
        self._repo.object_store.add_object(commit)
        if not self._repo.refs.add_if_new(ref, commit.id, message=b"branch: autopack rescue"):
            raise WorkspaceError(f"{self.path}: branch {branch!r} already exists; not overwriting it")
        return commit.id.decode("ascii")

    # --- reset --------------------------------------------------------------

    def reset_hard(self, commit: str) -> None:
        """Worktree, index and current branch (or detached HEAD) to ``commit``.

        Files the commit does not hold are removed unless ignored; ignored
        files and the state folder are left alone.
        """
        sha = self._resolve(commit)
        target = {p: v for p, v in self._tree_flat(self._repo[sha].tree).items() if not self._is_state(p)}
        for path in target:
            for part in path.split(b"/"):
                if not validate_path_element_default(part):
                    raise WorkspaceError(f"{self.path}: commit {commit} holds an unsafe path {_show(path)!r}")
        index, mtime = self._read_index()
        scan = self._scan(index, mtime)
        current = scan.flat()
        new_entries: dict[bytes, IndexEntry] = {}
        for path, entry in index.items():
            if self._is_state(path) and isinstance(entry, IndexEntry):
                new_entries[path] = entry

        root_fd = os.open(self._root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            # 1. Remove what the commit does not have (deepest first).
            gone = set(current) - set(target) | set(scan.conflicts) - set(target)
            for path in sorted(gone, key=lambda p: (-p.count(b"/"), p)):
                if self._is_state(path):
                    continue
                entry = current.get(path)
                if entry is not None and entry[0] == S_IFGITLINK:
                    continue
                _remove_at(root_fd, path)
            # 2. Write what differs.
            for path in sorted(target):
                mode, blob_sha = target[path]
                have = current.get(path)
                if have == (mode, blob_sha) and path in scan.entries:
                    new_entries[path] = scan.entries[path]  # already right on disk
                    continue
                if mode == S_IFGITLINK:
                    _ensure_dir_at(root_fd, path)
                    continue
                data = self._repo.object_store[blob_sha].data
                st = _write_at(root_fd, path, mode, data)
                new_entries[path] = index_entry_from_stat(st, blob_sha, mode=mode)
            # 3. Directories left empty by removals.
            for path in sorted(gone, key=lambda p: -p.count(b"/")):
                _prune_empty_parents(root_fd, path)
        finally:
            os.close(root_fd)
        for path, (mode, blob_sha) in target.items():
            if mode == S_IFGITLINK and path not in new_entries:
                new_entries[path] = IndexEntry(
                    ctime=0, mtime=0, dev=0, ino=0, mode=mode, uid=0, gid=0, size=0, sha=blob_sha
                )
        self._write_index(new_entries)
        old = self.head()
        self._move_head(old.encode("ascii") if old else None, sha, b"reset: moving to " + sha)
        self._clear_operation_state()


# --- the index file ---------------------------------------------------------------


def _index_bytes(entries: Mapping[bytes, IndexEntry | ConflictedIndexEntry]) -> bytes | None:
    """A version 2 index holding ``entries``, or None when they need dulwich's writer (stages, extended flags)."""
    out = [b"DIRC", struct.pack(">LL", 2, len(entries))]
    pack = _ENTRY.pack
    for name in sorted(entries):
        e = entries[name]
        if not isinstance(e, IndexEntry) or e.extended_flags or e.flags & 0x4000:
            return None
        ct, mt = _ns(e.ctime), _ns(e.mtime)
        flags = (e.flags & 0xF000) | min(len(name), 0xFFF)
        out.append(
            pack(
                (ct // 1_000_000_000) & 0xFFFFFFFF,
                ct % 1_000_000_000,
                (mt // 1_000_000_000) & 0xFFFFFFFF,
                mt % 1_000_000_000,
                e.dev & 0xFFFFFFFF,
                e.ino & 0xFFFFFFFF,
                e.mode,
                e.uid & 0xFFFFFFFF,
                e.gid & 0xFFFFFFFF,
                e.size & 0xFFFFFFFF,
                bytes.fromhex(e.sha.decode("ascii")),
                flags,
            )
        )
        out.append(name)
        out.append(b"\0" * (8 - (62 + len(name)) % 8))
    body = b"".join(out)
    return body + hashlib.sha1(body).digest()


# --- trees --------------------------------------------------------------------


def _build_trees(
    flat: Mapping[bytes, tuple[int, bytes]], cache: dict[frozenset, Tree] | None = None
) -> tuple[bytes, list[Tree]]:
    """The root tree id of ``flat`` and every tree object, leaves first.

    ``cache`` maps a folder's entries to its tree, so that folders a
    checkpoint did not touch are not serialised and hashed again.
    """
    folders: dict[bytes, list[tuple[bytes, int, bytes]]] = {b"": []}
    for path, (mode, sha) in flat.items():
        d, _, name = path.rpartition(b"/")
        items = folders.get(d)
        if items is None:
            items = folders[d] = []
            parent = d
            while parent:
                parent = parent.rpartition(b"/")[0]
                if parent in folders:
                    break
                folders[parent] = []
        items.append((name, mode, sha))
    order = sorted(folders, key=lambda d: d.count(b"/") + 1 if d else 0, reverse=True)
    built: dict[bytes, Tree] = {}
    for d in order:
        items = folders[d]
        key = frozenset(items)
        tree = cache.get(key) if cache is not None else None
        if tree is None:
            tree = Tree()
            for name, mode, sha in items:
                tree.add(name, mode, sha)
            if cache is not None:
                if len(cache) > 50_000:
                    cache.clear()
                cache[key] = tree
        built[d] = tree
        if d:
            parent, _, name = d.rpartition(b"/")
            folders[parent].append((name, stat.S_IFDIR, tree.id))
    return built[b""].id, [built[d] for d in order]


# --- writing the worktree without following links ------------------------------


def _open_dir_at(root_fd: int, parts: list[bytes], *, create: bool) -> int:
    """An fd for the directory ``parts`` under ``root_fd``, never following a symlink.

    With ``create``, a file or symlink standing where a directory must be is
    removed and replaced by a directory (the commit being restored says so).
    """
    fd = os.dup(root_fd)
    try:
        for part in parts:
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o777, dir_fd=fd)
                nfd = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if not create or exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                os.unlink(part, dir_fd=fd)
                os.mkdir(part, 0o777, dir_fd=fd)
                nfd = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def _clear_at(dir_fd: int, name: bytes) -> None:
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(os.fsdecode(name), dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _write_at(root_fd: int, path: bytes, mode: int, data: bytes) -> os.stat_result:
    *parents, name = path.split(b"/")
    fd = _open_dir_at(root_fd, parents, create=True)
    try:
        _clear_at(fd, name)
        if mode == _MODE_LINK:
            os.symlink(data, name, dir_fd=fd)
        else:
            perm = 0o777 if mode == _MODE_EXEC else 0o666
            wfd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, perm, dir_fd=fd)
            try:
                view = memoryview(data)
                while view:
                    n = os.write(wfd, view)
                    view = view[n:]
            finally:
                os.close(wfd)
        return os.lstat(name, dir_fd=fd)
    finally:
        os.close(fd)


def _ensure_dir_at(root_fd: int, path: bytes) -> None:
    os.close(_open_dir_at(root_fd, path.split(b"/"), create=True))


def _remove_at(root_fd: int, path: bytes) -> None:
    *parents, name = path.split(b"/")
    try:
        fd = _open_dir_at(root_fd, parents, create=False)
    except OSError:
        return  # a leading directory is gone or is no longer a directory: nothing of ours below
    try:
        st = os.lstat(name, dir_fd=fd)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def _prune_empty_parents(root_fd: int, path: bytes) -> None:
    parts = path.split(b"/")[:-1]
    while parts:
        *parents, name = parts
        try:
            fd = _open_dir_at(root_fd, parents, create=False)
        except OSError:
            return
        try:
            os.rmdir(name, dir_fd=fd)
        except OSError:
            return  # not empty (ignored files, other files) or gone
        finally:
            os.close(fd)
        parts = parents


# --- diff text ------------------------------------------------------------------

_QUOTE = {
    ord("\t"): b"\\t",
    ord("\n"): b"\\n",
    ord('"'): b'\\"',
    ord("\\"): b"\\\\",
    7: b"\\a",
    8: b"\\b",
    11: b"\\v",
    12: b"\\f",
    13: b"\\r",
}


def _quote(prefix: bytes, path: bytes) -> bytes:
    """A path as git prints it in diff headers (C-style quoting, core.quotePath=true)."""
    whole = prefix + path
    if not any(c < 0x20 or c >= 0x7F or c in (0x22, 0x5C) for c in whole):
        return whole
    out = bytearray(b'"')
    for c in whole:
        if c in _QUOTE:
            out += _QUOTE[c]
        elif c < 0x20 or c >= 0x7F:
            out += b"\\%03o" % c
        else:
            out.append(c)
    out += b'"'
    return bytes(out)


def _lines(data: bytes) -> list[bytes]:
    # Git splits on "\n" only; a "\r" stays inside its line.
    parts = data.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


_FUNCNAME = re.compile(rb"^[A-Za-z_$]")
_NO_EOL = b"\n\\ No newline at end of file\n"


def _range(start: int, count: int) -> bytes:
    if count == 1:
        return b"%d" % (start + 1)
    return b"%d,%d" % (start + 1 if count else start, count)


def _hunks(a: list[bytes], b: list[bytes]) -> list[bytes]:
    """Unified diff hunks (3 lines of context) with git's default function-name headers."""
    from difflib import SequenceMatcher

    # Without autojunk, frequent lines (blank ones, braces) still anchor the match:
    # smaller, more git-like hunks. Very large files keep the faster heuristic.
    matcher = SequenceMatcher(None, a, b, autojunk=len(a) + len(b) > 20_000)
    out: list[bytes] = []
    for group in matcher.get_grouped_opcodes(3):
        i1, i2 = group[0][1], group[-1][2]
        j1, j2 = group[0][3], group[-1][4]
        header = b"@@ -" + _range(i1, i2 - i1) + b" +" + _range(j1, j2 - j1) + b" @@"
        for k in range(i1 - 1, -1, -1):
            if _FUNCNAME.match(a[k]):
                header += b" " + a[k][:80].rstrip()
                break
        out.append(header + b"\n")
        for tag, x1, x2, y1, y2 in group:
            if tag == "equal":
                out.extend(_prefixed(b" ", a[x1:x2]))
                continue
            if tag in ("replace", "delete"):
                out.extend(_prefixed(b"-", a[x1:x2]))
            if tag in ("replace", "insert"):
                out.extend(_prefixed(b"+", b[y1:y2]))
    return out


def _prefixed(mark: bytes, lines: list[bytes]) -> list[bytes]:
    return [mark + (line if line.endswith(b"\n") else line + _NO_EOL) for line in lines]


def _write_file_diff(
    out: io.BytesIO,
    path: bytes,
    a: tuple[int, bytes] | None,
    b: tuple[int, bytes] | None,
    content: Callable[[bytes], bytes],
) -> None:
    pa, pb = _quote(b"a/", path), _quote(b"b/", path)
    # A change of kind (file <-> symlink) is a deletion and an addition, as git prints it.
    if a and b and (a[0] == _MODE_LINK) != (b[0] == _MODE_LINK):
        _write_file_diff(out, path, a, None, content)
        _write_file_diff(out, path, None, b, content)
        return
    out.write(b"diff --git " + pa + b" " + pb + b"\n")
    if a is None:
        out.write(b"new file mode %o\n" % b[0])
    elif b is None:
        out.write(b"deleted file mode %o\n" % a[0])
    elif a[0] != b[0]:
        out.write(b"old mode %o\nnew mode %o\n" % (a[0], b[0]))
    sha_a = a[1] if a else None
    sha_b = b[1] if b else None
    if sha_a == sha_b:
        return  # a mode change alone
    line = b"index " + (sha_a or b"0" * 40)[:7] + b".." + (sha_b or b"0" * 40)[:7]
    if a and b and a[0] == b[0]:
        line += b" %o" % a[0]
    out.write(line + b"\n")
    old = content(sha_a) if sha_a else b""
    new = content(sha_b) if sha_b else b""
    from_name = pa if a else b"/dev/null"
    to_name = pb if b else b"/dev/null"
    if is_binary(old) or is_binary(new):
        out.write(b"Binary files " + from_name + b" and " + to_name + b" differ\n")
        return
    hunks = _hunks(_lines(old), _lines(new))
    if not hunks:
        return
    # Git ends a name holding a space with a tab, so that GNU patch reads it whole.
    tab = b"\t" if b" " in path else b""
    out.write(b"--- " + from_name + (tab if a else b"") + b"\n+++ " + to_name + (tab if b else b"") + b"\n")
    out.writelines(hunks)


__all__ = ["AUTOPACK_AUTHOR", "STATE_FOLDER", "GitWorkspace"]
