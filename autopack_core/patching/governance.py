"""What a Builder edit may touch, decided before anything is written.

Every check returns ``Refusal(path, rule, message)`` values rather than
raising, so one reply's every problem is reported at once and each becomes
part of a ``PatchRefused`` event. Rule names are stable (documented in
docs/governed-apply.md); config and dashboards key on them.

Path checks are lexical first (no file system access), then look at the
workspace through held folder descriptors (``fsaccess``), so a hostile path
is never followed. Symlink targets are judged by where they lead in the tree
as it will be after the patch, never by their text alone.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

# The policy's knobs belong to the config (its ``governance:`` section);
# re-exported here for the checks below and their callers.
from autopack_core.config import GovernancePolicy
from autopack_core.events import Refusal
from autopack_core.patching.fsaccess import LinkInPath

if TYPE_CHECKING:
    from autopack_core.patching.fsaccess import WorkspaceFS

# Rule names, one per reason a path or edit is refused.
ABSOLUTE_PATH = "absolute-path"
DRIVE_LETTER = "drive-letter"
PARENT_TRAVERSAL = "parent-traversal"
CONTROL_CHARACTER = "control-character"
NON_CANONICAL_PATH = "non-canonical-path"
GIT_DIR = "git-dir"
AUTOPACK_DIR = "autopack-dir"
PROTECTED_PATH = "protected-path"
SYMLINK_WRITE = "symlink-write"
SYMLINK_ESCAPE = "symlink-escape"
EXEC_BIT = "exec-bit"
BINARY_PATCH = "binary-patch"
FILE_TOO_LARGE = "file-too-large"
HUNK_TOO_LARGE = "hunk-too-large"

RULES = (
    ABSOLUTE_PATH,
    DRIVE_LETTER,
    PARENT_TRAVERSAL,
    CONTROL_CHARACTER,
    NON_CANONICAL_PATH,
    GIT_DIR,
    AUTOPACK_DIR,
    PROTECTED_PATH,
    SYMLINK_WRITE,
    SYMLINK_ESCAPE,
    EXEC_BIT,
    BINARY_PATCH,
    FILE_TOO_LARGE,
    HUNK_TOO_LARGE,
)

STATE_DIR = ".autopack"


DEFAULT_POLICY = GovernancePolicy()

# Code points HFS+ ignores when comparing names, so ".g\u200cit" is ".git" there;
# git refuses them for the same reason (is_hfs_dotgit).
_HFS_IGNORABLE = dict.fromkeys(
    [
        0x200C,
        0x200D,
        0x200E,
        0x200F,
        0x202A,
        0x202B,
        0x202C,
        0x202D,
        0x202E,
        0x206A,
        0x206B,
        0x206C,
        0x206D,
        0x206E,
        0x206F,
        0xFEFF,
    ]
)
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def components(path: str) -> list[str]:
    """Path components, treating ``\\`` as a separator too: Windows does, and
    a patch written for one must not sneak ``..\\`` past us."""
    return re.split(r"[/\\]", path)


def _spelled_as(name: str, target: str, short: str) -> bool:
    # What NTFS, HFS+ and FAT would all resolve to ``target``: any case,
    # ignorable code points, trailing dots and spaces, an alternate data
    # stream suffix (".git::$INDEX_ALLOCATION"), or the 8.3 short name.
    if name.isascii():
        n = name.lower()
        if short[:3] not in n:
            return False
    else:
        n = name.translate(_HFS_IGNORABLE).casefold()
    n = n.split(":", 1)[0].rstrip(" .")
    return n == target or n == short


def is_git_name(name: str) -> bool:
    """True when a path component is ``.git`` in any spelling git refuses."""
    return _spelled_as(name, ".git", "git~1")


def is_state_name(name: str) -> bool:
    """True when a path component is Autopack's own state folder in any spelling."""
    return _spelled_as(name, STATE_DIR, "autopa~1")


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    pat = pattern.replace("\\", "/").strip("/") if pattern not in ("/", "") else ""
    out = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pat.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pat[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    # A match on a directory covers everything under it.
    return re.compile("(?:" + "".join(out) + ")(?:/.*)?", re.IGNORECASE | re.DOTALL)


def matches_any(path: str, patterns: Iterable[str]) -> str | None:
    """The first glob in ``patterns`` that covers ``path``, or None."""
    norm = "/".join(components(path)).casefold()
    for p in patterns:
        if _glob_regex(p.casefold()).fullmatch(norm):
            return p
    return None


def check_path(path: str, policy: GovernancePolicy = DEFAULT_POLICY) -> list[Refusal]:
    """Lexical checks of one path a patch writes, renames or deletes."""
    out: list[Refusal] = []

    def refuse(rule: str, message: str) -> None:
        out.append(Refusal(path=path, rule=rule, message=message))

    if _CONTROL_RE.search(path):
        refuse(CONTROL_CHARACTER, "path contains a NUL or control character")
    if path.startswith(("/", "\\")):
        refuse(ABSOLUTE_PATH, "path is absolute; patches may only name paths inside the workspace")
    if _DRIVE_RE.match(path):
        refuse(DRIVE_LETTER, "path starts with a drive letter")
    parts = components(path)
    if ".." in parts or any(p.rstrip(" .") == "" and p.count(".") >= 2 for p in parts):
        refuse(PARENT_TRAVERSAL, "path climbs out with '..'")
    inner = parts[1:] if path.startswith(("/", "\\")) else parts
    if not path or any(p in ("", ".") for p in inner):
        refuse(NON_CANONICAL_PATH, "path is empty or has an empty or '.' component")
    if any(is_git_name(p) for p in parts):
        refuse(GIT_DIR, "writes inside .git are never allowed")
    if any(is_state_name(p) for p in parts):
        refuse(AUTOPACK_DIR, "Autopack's own state folder .autopack/ is protected")
    hit = matches_any(path, policy.protected_paths)
    if hit and not any(r.rule in (GIT_DIR, AUTOPACK_DIR) for r in out):
        refuse(PROTECTED_PATH, f"path is protected by {hit!r}")
    return out


def check_parents(path: str, fs: WorkspaceFS) -> list[Refusal]:
    """Refuse a path when any folder on the way to it is a symlink.

    ``fs`` opens each folder from its parent's descriptor with
    ``O_NOFOLLOW`` and holds it for the rest of the apply, so nothing is
    followed and a later swap cannot change what was checked. Only ``/``
    separates (on POSIX ``\\`` is part of a name). A folder that does not exist
    yet ends the walk (it will be created as a real folder); errors other than
    "missing" refuse.
    """
    parent = path.rpartition("/")[0]
    if not parent:
        return []
    try:
        fs.folder(parent)
    except LinkInPath as exc:
        return [_parent_link(path, exc.rel)]
    except OSError as exc:
        return [Refusal(path=path, rule=SYMLINK_WRITE, message=f"cannot inspect {exc.filename}: {exc.strerror}")]
    return []


def _parent_link(path: str, rel: str) -> Refusal:
    return Refusal(
        path=path,
        rule=SYMLINK_WRITE,
        message=f"parent directory {rel} is a symlink; reading or writing through it is refused",
    )


def is_symlink(path: str, fs: WorkspaceFS) -> bool:
    """True when ``path`` itself is a symlink (not followed). Raises
    ``OSError`` when it cannot be looked at (the caller refuses: an error
    must not read as "not a link")."""
    st = fs.lstat(path)
    return st is not None and stat.S_ISLNK(st.st_mode)


#: Links followed while resolving one target before giving up, as Linux does (ELOOP).
MAX_LINK_HOPS = 40
#: Longest symlink target judged: PATH_MAX less its NUL on Linux.
MAX_TARGET_BYTES = 4095


class LinkLoop(ValueError):
    """A chain of symlinks loops or is longer than ``MAX_LINK_HOPS``."""


def _is_absolute(target: str, backslash: bool) -> bool:
    if target.startswith("/"):
        return True
    return backslash and (target.startswith("\\") or bool(_DRIVE_RE.match(target)))


def resolve_link(
    path: str, target: bytes, lookup: Callable[[str], bytes | None], *, backslash: bool = False
) -> str | None:
    """Where the symlink at ``path`` leads, as a workspace-relative path ("" is
    the root), or None when it leads outside (absolute, or above the root).

    ``lookup(rel)`` gives the target of the symlink at ``rel`` in the tree
    being judged (the workspace as it will be after the patch), or None when
    ``rel`` is not a symlink there. Links met on the way are expanded, so
    chains (``a -> .``, ``b -> a/..``) are judged by where they really lead.
    Anything else (a folder, a file, nothing yet) is stepped through as a
    folder: a missing name may be created as a folder later, and then the
    answer still holds. With ``backslash`` a ``\\`` also separates, as on
    Windows. Raises ``LinkLoop`` after ``MAX_LINK_HOPS`` links.
    """
    sep = r"[/\\]" if backslash else "/"
    text = target.decode("utf-8", "surrogateescape")
    if _is_absolute(text, backslash):
        return None
    where = path.split("/")[:-1]
    pending = list(reversed(re.split(sep, text)))
    hops = 1  # the link itself, as the kernel counts
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            if not where:
                return None
            where.pop()
            continue
        where.append(name)
        link = lookup("/".join(where))
        if link is None:
            continue
        hops += 1
        if hops > MAX_LINK_HOPS:
            raise LinkLoop(path)
        where.pop()
        text = link.decode("utf-8", "surrogateescape")
        if _is_absolute(text, backslash):
            return None
        pending.extend(reversed(re.split(sep, text)))
    return "/".join(where)


def _no_links(rel: str) -> bytes | None:
    return None


_PROTECTED_RULES = (GIT_DIR, AUTOPACK_DIR, PROTECTED_PATH)


def judge_link(
    path: str, target: bytes, policy: GovernancePolicy, lookup: Callable[[str], bytes | None]
) -> str | None:
    """Why the symlink at ``path`` must not exist in the tree ``lookup``
    describes, or None if it may: it leads outside, into a protected path or
    into an exec-protected folder, or the chain loops. Judged as POSIX reads
    the target and as Windows would (``\\`` separating)."""
    for backslash in (False, True):
        try:
            where = resolve_link(path, target, lookup, backslash=backslash)
        except LinkLoop:
            return "is a loop or a chain of more than 40 symlinks"
        if where is None:
            return "points outside the workspace"
        if not where:
            continue
        if any(r.rule in _PROTECTED_RULES for r in check_path(where, policy)):
            return f"points into a protected path ({where})"
        hit = matches_any(where, policy.exec_protected_paths)
        if hit:
            return f"points into {hit!r}, where git would run what it finds ({where})"
    return None


def check_symlink_target(
    path: str,
    target: bytes,
    policy: GovernancePolicy = DEFAULT_POLICY,
    lookup: Callable[[str], bytes | None] = _no_links,
) -> list[Refusal]:
    """A new or changed symlink must lead inside the workspace, and not into a
    protected path or a hook folder (it would be a door for later writes or
    runs), judged against the tree ``lookup`` describes (by default one with
    no other links). A symlink inside an exec-protected folder is refused
    whatever its target: git would run what it points at."""
    if len(target) > MAX_TARGET_BYTES:
        # No system makes such a link (PATH_MAX), and judging it would be long work.
        return [
            Refusal(
                path=path,
                rule=SYMLINK_ESCAPE,
                message=f"symlink target has {len(target)} bytes; the limit is {MAX_TARGET_BYTES}",
            )
        ]
    t = target.decode("utf-8", "surrogateescape")
    if not t or _CONTROL_RE.search(t):
        return [Refusal(path=path, rule=SYMLINK_ESCAPE, message=f"symlink target {t!r} is empty or invalid")]
    out = []
    hit = matches_any(path, policy.exec_protected_paths)
    if hit:
        out.append(
            Refusal(
                path=path,
                rule=EXEC_BIT,
                message=f"symlinks are refused under {hit!r}: git would run what they point at",
            )
        )
    why = judge_link(path, target, policy, lookup)
    if why is not None:
        out.append(Refusal(path=path, rule=SYMLINK_ESCAPE, message=f"symlink target {t!r} {why}"))
    return out


def check_exec(path: str, mode: int | None, policy: GovernancePolicy = DEFAULT_POLICY) -> list[Refusal]:
    """Refuse setting the executable bit where git or a hooks path would run it."""
    if mode is None or not (mode & 0o111) or stat.S_IFMT(mode) != stat.S_IFREG:
        return []
    parts = components(path)
    hit = matches_any(path, policy.exec_protected_paths)
    if (
        hit
        or any(is_git_name(p) or is_state_name(p) for p in parts)
        or matches_any(path, policy.protected_paths)
    ):
        why = f"matches {hit!r}" if hit else "is protected"
        return [
            Refusal(path=path, rule=EXEC_BIT, message=f"setting the executable bit is refused: path {why}")
        ]
    return []


def check_size(path: str, size: int, policy: GovernancePolicy = DEFAULT_POLICY) -> list[Refusal]:
    if size > policy.max_file_bytes:
        return [
            Refusal(
                path=path,
                rule=FILE_TOO_LARGE,
                message=f"resulting file has {size} bytes; the limit is {policy.max_file_bytes}",
            )
        ]
    return []
