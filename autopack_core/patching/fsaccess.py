"""The workspace reached through directory descriptors, never through path text.

Every folder is opened one component at a time from the descriptor of its
parent with ``O_NOFOLLOW | O_DIRECTORY``, starting at a descriptor of the
workspace root, and the descriptor is held until the apply ends. So:

- no symlink is ever followed on the way to a file, however the chain of
  links is built (``..``, ``.``, absolute targets, names holding ``\\``);
- a folder swapped for a link after it was opened cannot redirect a read, a
  write, a temporary file or a rollback: they all go through the descriptor of
  the folder that was checked.

Paths are workspace-relative ``str`` with ``/`` as the only separator (on POSIX
``\\`` is an ordinary character in a name), already checked lexically by
governance (no ``..``, no empty or ``.`` component).
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections.abc import Iterator
from typing import Self

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
# O_NONBLOCK: a FIFO swapped in after the type check must not block the open.
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0)
_tmp_counter = itertools.count()


class LinkInPath(OSError):
    """A folder on the way to a path is a symlink (or became one)."""

    def __init__(self, rel: str) -> None:
        super().__init__(errno.ELOOP, "a folder on the way is a symlink", rel)
        self.rel = rel


def _open_dir(name: str, parent_fd: int) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        # A patch spanning more folders than the soft limit of open files
        # (often 1024) holds one descriptor per folder: raise the limit once.
        if exc.errno != errno.EMFILE or not _raise_fd_limit():
            raise
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _raise_fd_limit() -> bool:
    try:
        import resource
    except ImportError:  # not on POSIX
        return False
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if want <= soft:
        return False
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (OSError, ValueError):
        return False
    return True


def split(rel: str) -> tuple[str, str]:
    """``("a/b", "c")`` for ``"a/b/c"``; ``("", "c")`` for ``"c"``."""
    parent, _, name = rel.rpartition("/")
    return parent, name


class WorkspaceFS:
    """Held descriptors of the workspace root and every folder a patch uses.

    Use as a context manager; every descriptor is closed on exit. Not
    thread-safe for opening folders: open them all (``folder``) before handing
    the object to worker threads, which then only use descriptors already held.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        self._fds: dict[str, int] = {"": os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)}
        self._ids: dict[str, tuple[int, int]] = {}
        #: Folders this object created, parents before children.
        self.made: list[str] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()

    # --- folders ------------------------------------------------------------------------

    def folder(self, rel_dir: str, *, create: bool = False) -> int | None:
        """Descriptor of folder ``rel_dir`` ("" is the root).

        None when it does not exist or a file is in the way (unless
        ``create``: then missing folders are made, and a file in the way is
        ``NotADirectoryError``). ``LinkInPath`` when a component is a symlink.
        """
        fd = self._fds.get(rel_dir)
        if fd is not None:
            return fd
        parts = rel_dir.split("/")
        # Find the deepest folder already held, then walk down from it.
        k = len(parts) - 1
        while k > 0 and "/".join(parts[:k]) not in self._fds:
            k -= 1
        fd = self._fds["/".join(parts[:k])]
        for i in range(k, len(parts)):
            rel = "/".join(parts[: i + 1])
            got = self._open_child(fd, parts[i], rel, create)
            if got is None:
                return None
            fd = got
        return fd

    def _open_child(self, parent_fd: int, name: str, rel: str, create: bool) -> int | None:
        try:
            fd = _open_dir(name, parent_fd)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(name, 0o777, dir_fd=parent_fd)
            except OSError as exc:
                exc.filename = rel
                raise
            self.made.append(rel)
            # If the new folder is swapped for a link right now, this open fails.
            try:
                fd = _open_dir(name, parent_fd)
            except OSError as exc:
                raise self._why_not_dir(parent_fd, name, rel, exc) from None
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP, errno.EMLINK):
                exc.filename = rel
                raise
            err = self._why_not_dir(parent_fd, name, rel, exc)
            if isinstance(err, NotADirectoryError) and not create:
                return None
            raise err from None
        st = os.fstat(fd)
        self._fds[rel] = fd
        self._ids[rel] = (st.st_dev, st.st_ino)
        return fd

    @staticmethod
    def _why_not_dir(parent_fd: int, name: str, rel: str, exc: OSError) -> OSError:
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except OSError:
            return exc
        if stat.S_ISLNK(st.st_mode):
            return LinkInPath(rel)
        if not stat.S_ISDIR(st.st_mode):
            return NotADirectoryError(errno.ENOTDIR, "not a directory", rel)
        return exc

    def parent(self, rel: str, *, create: bool = False) -> tuple[int | None, str]:
        """Descriptor of the folder holding ``rel``, and ``rel``'s last name."""
        parent, name = split(rel)
        return self.folder(parent, create=create), name

    def moved_folders(self) -> list[str]:
        """Held folders that are no longer where they were opened (swapped or
        moved by someone else), found by walking again from the root."""
        out = []
        for rel, ident in self._ids.items():
            fd = self._fds["" if "/" not in rel else rel.rsplit("/", 1)[0]]
            name = rel.rsplit("/", 1)[-1]
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                out.append(rel)
                continue
            if (st.st_dev, st.st_ino) != ident or not stat.S_ISDIR(st.st_mode):
                out.append(rel)
        return sorted(out)

    # --- reading ------------------------------------------------------------------------

    def lstat(self, rel: str) -> os.stat_result | None:
        """``lstat`` of ``rel`` (not followed); None if it does not exist or a
        file is in the way. ``LinkInPath`` if a folder on the way is a link."""
        fd, name = self.parent(rel)
        if fd is None:
            return None
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read(self, rel: str, size_hint: int = 0) -> bytes:
        """The bytes of regular file ``rel``; never follows a link, never
        opens anything but a regular file."""
        fd, name = self.parent(rel)
        if fd is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", rel)
        f = os.open(name, _READ_FLAGS, dir_fd=fd)
        try:
            if not stat.S_ISREG(os.fstat(f).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", rel)
            chunks = [os.read(f, size_hint + 1)]
            # One read normally suffices; keep going only if the file grew.
            while chunks[-1] and (len(chunks) > 1 or len(chunks[0]) > size_hint):
                chunks.append(os.read(f, 1 << 20))
        finally:
            os.close(f)
        return b"".join(chunks)

    def readlink(self, rel: str) -> bytes:
        """The target of symlink ``rel``, as bytes (it need not be UTF-8)."""
        fd, name = self.parent(rel)
        if fd is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", rel)
        return os.readlink(os.fsencode(name), dir_fd=fd)

    def links(self, skip: frozenset[str] = frozenset({".git"})) -> Iterator[tuple[str, bytes]]:
        """Every symlink in the workspace and its target, without following
        any; folders named in ``skip`` are not entered. Folders are opened
        depth first and closed when done (at most one descriptor per level),
        not held. Raises ``OSError`` (``filename`` workspace-relative) when a
        folder cannot be read: the caller must not assume there is no link
        in it."""
        frames: list[tuple[int, str, list[str]]] = []
        try:
            yield from self._scan(self._fds[""], "", skip, frames, owned=False)
            while frames:
                fd, rel, subdirs = frames[-1]
                if not subdirs:
                    frames.pop()
                    if rel:
                        os.close(fd)
                    continue
                name = subdirs.pop()
                child = f"{rel}/{name}" if rel else name
                try:
                    cfd = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    exc.filename = child
                    raise
                yield from self._scan(cfd, child, skip, frames, owned=True)
        finally:
            for fd, rel, _ in frames:
                if rel:
                    os.close(fd)

    @staticmethod
    def _scan(
        fd: int, rel: str, skip: frozenset[str], frames: list[tuple[int, str, list[str]]], *, owned: bool
    ) -> Iterator[tuple[str, bytes]]:
        subdirs: list[str] = []
        try:
            with os.scandir(fd) as it:
                found = []
                for entry in it:
                    if entry.is_symlink():
                        found.append((entry.name, os.readlink(os.fsencode(entry.name), dir_fd=fd)))
                    elif entry.is_dir(follow_symlinks=False) and entry.name not in skip:
                        subdirs.append(entry.name)
        except OSError as exc:
            if owned:
                os.close(fd)
            exc.filename = rel or "."
            raise
        frames.append((fd, rel, subdirs))
        for name, target in found:
            yield (f"{rel}/{name}" if rel else name), target

    # --- writing ------------------------------------------------------------------------

    def stage(
        self, rel: str, content: bytes, *, link: bool = False, create_mode: int = 0o666, chmod: int | None = None
    ) -> str:
        """Write ``content`` to a new temporary file in ``rel``'s folder (a
        symlink to ``content`` if ``link``); return the temporary name. The
        folder must already be held."""
        fd, _ = self.parent(rel)
        assert fd is not None, rel
        # Short and independent of the target's name, which may already be at
        # the file system's length limit.
        tmp = f".autopack-{os.getpid()}-{next(_tmp_counter)}.tmp"
        if link:
            os.symlink(os.fsencode(content), os.fsencode(tmp), dir_fd=fd)
            return tmp
        f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, create_mode, dir_fd=fd)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(f, view) :]
            if chmod is not None:
                os.fchmod(f, chmod)
        except BaseException:
            os.close(f)
            self.discard(rel, tmp)
            raise
        os.close(f)
        return tmp

    def replace(self, tmp: str, rel: str) -> None:
        """Move staged ``tmp`` onto ``rel`` within the same held folder."""
        fd, name = self.parent(rel)
        os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)

    def discard(self, rel: str, tmp: str) -> None:
        """Remove temporary ``tmp`` from ``rel``'s folder, quietly."""
        fd, _ = self.parent(rel)
        try:
            os.unlink(tmp, dir_fd=fd)
        except OSError:
            pass

    def unlink(self, rel: str) -> None:
        fd, name = self.parent(rel)
        if fd is None:
            raise FileNotFoundError(errno.ENOENT, "no such file", rel)
        os.unlink(name, dir_fd=fd)

    def rmdir(self, rel: str) -> bool:
        """Remove empty folder ``rel``; False if it is not empty or gone."""
        fd, name = self.parent(rel)
        if fd is None:
            return False
        try:
            os.rmdir(name, dir_fd=fd)
        except OSError:
            return False
        held = self._fds.pop(rel, None)
        self._ids.pop(rel, None)
        if held is not None:
            os.close(held)
        return True

    def leftover_temps(self) -> list[str]:
        """Our temporary files still present in any held folder."""
        prefix = f".autopack-{os.getpid()}-"
        out = []
        for rel, fd in list(self._fds.items()):
            try:
                names = os.listdir(fd)
            except OSError:
                continue
            out += [f"{rel}/{n}" if rel else n for n in names if n.startswith(prefix) and n.endswith(".tmp")]
        return out
