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
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
import attrs
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
PATCH_TOO_LARGE = "patch-too-large"
TOTAL_TOO_LARGE = "total-too-large"
SYMLINK_GITMODULES = "symlink-gitmodules"
BINARY_TOO_LARGE = "binary-too-large"
NAME_TOO_LONG = "name-too-long"

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
    PATCH_TOO_LARGE,
    TOTAL_TOO_LARGE,
    SYMLINK_GITMODULES,
    BINARY_TOO_LARGE,
    NAME_TOO_LONG,
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
# Linux's limits (NAME_MAX, PATH_MAX - 1); other systems' are no larger.
_NAME_MAX = 255
_PATH_MAX = 4095
# C0, DEL and C1 controls (U+0080-U+009F: U+009B is CSI, U+0085 a line break).
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")


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


def _ntfs_dot_generic(name: str, dotname: str, fallback: str) -> bool:
    # git's is_ntfs_dot_generic: ".dotname" then only dots/spaces (or a
    # stream), the short name DOTNAM~1..4, or the hashed fall-back short name
    # (FALLBA~1..9 style) that NTFS uses when the first four are taken.
    def only_dots_spaces(rest: str) -> bool:
        return rest.split(":", 1)[0].strip(" .") == ""

    low = name.lower() if name.isascii() else name
    if low.startswith("." + dotname):
        return only_dots_spaces(low[len(dotname) + 1 :])
    if low.startswith(dotname[:6]) and low[6:7] == "~" and "1" <= low[7:8] <= "4":
        return only_dots_spaces(low[8:])
    tilde = low.find("~")
    # The prefix comparison also bounds the tilde's place (at most 6 in).
    if tilde < 0 or low[:tilde] != fallback[:tilde]:
        return False
    digits = low[tilde + 1 : 8]
    if len(digits) != 8 - tilde - 1 or not digits.isdigit() or not digits.isascii() or digits[0] == "0":
        return False
    return only_dots_spaces(low[8:])


def is_gitmodules_name(name: str) -> bool:
    """True when a component is ``.gitmodules`` as git spells it on HFS+ or
    NTFS (git refuses a symlink by that name: it would make git read another
    file's submodule URLs)."""
    if not name.isascii() and name.translate(_HFS_IGNORABLE).casefold() == ".gitmodules":
        return True
    return _ntfs_dot_generic(name, "gitmodules", "gi7eba")


def check_link_name(path: str) -> list[Refusal]:
    """Refuse a symlink git would refuse by its name alone."""
    if is_gitmodules_name(components(path)[-1]):
        return [
            Refusal(
                path=path,
                rule=SYMLINK_GITMODULES,
                message=".gitmodules may not be a symlink (git refuses it too)",
            )
        ]
    return []


def fold_name(name: str) -> str:
    """One path component as case-insensitive, normalising file systems see
    it: HFS+ drops its ignorable code points and compares NFD/NFC forms alike;
    NTFS drops trailing dots and spaces and an alternate data stream suffix
    (``name::$DATA``); both ignore case. Two names that fold alike may be the
    same file there."""
    if not name.isascii():
        name = unicodedata.normalize("NFC", name.translate(_HFS_IGNORABLE))
    n = name.casefold()
    if not n.isascii():
        n = unicodedata.normalize("NFC", n)
    n = n.split(":", 1)[0]
    # A name of only dots and spaces keeps them: it is a traversal spelling,
    # refused on its own, not an empty name.
    return n.rstrip(" .") or n


def fold_path(path: str) -> str:
    """``path`` with each component folded (``fold_name``), ``/``-separated."""
    return "/".join(fold_name(p) for p in components(path))


# The glob matcher. Patterns come from config and command lines; Python's
# ``re`` backtracks, so ``*a*a*a*a*b`` against a long name would take
# polynomial time with a large exponent. Patterns are therefore compiled to a
# small NFA, simulated as a lazily built DFA: each step costs one dict look-up
# once seen, and never more than the pattern's size.

_ANY = ("any",)  # any character, '/' included (``**``)
_SEG = ("seg",)  # any character but '/' (``*``, ``?``)
_SHORT_BAD = set('+,;=[]"*<>|?')


@attrs.frozen
class _Class:
    ranges: tuple[tuple[str, str], ...]
    negate: bool

    def __call__(self, ch: str) -> bool:
        if ch == "/":
            return False
        hit = any(lo <= ch <= hi for lo, hi in self.ranges)
        return hit != self.negate


def _edge_ok(edge: object, ch: str) -> bool:
    if edge is _ANY:
        return True
    if edge is _SEG:
        return ch != "/"
    if isinstance(edge, str):
        return edge == ch
    return edge(ch)  # type: ignore[operator]


class _Nfa:
    def __init__(self) -> None:
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[object, int]]] = []

    def state(self) -> int:
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def edge(self, src: int, what: object, dst: int | None = None) -> int:
        dst = self.state() if dst is None else dst
        self.edges[src].append((what, dst))
        return dst

    def chars(self, src: int, text: str) -> int:
        for ch in text:
            src = self.edge(src, ch)
        return src


def _parse_class(pat: str, i: int) -> tuple[_Class, int] | None:
    """The ``[...]`` class starting at ``pat[i]``, and the index after it."""
    j = i + 1
    negate = j < len(pat) and pat[j] in "!^"
    j += negate
    start = j
    ranges: list[tuple[str, str]] = []
    while j < len(pat):
        c = pat[j]
        if c == "]" and j > start:
            return _Class(tuple(ranges), negate), j + 1
        if j + 2 < len(pat) and pat[j + 1] == "-" and pat[j + 2] != "]":
            ranges.append((c, pat[j + 2]))
            j += 3
        else:
            ranges.append((c, c))
            j += 1
    return None


def _short_name(name: str) -> tuple[str, str] | None:
    """The stem and extension of the 8.3 short name NTFS gives a long
    folded name (``credentials.json`` -> ``creden``, ``jso``: CREDEN~1.JSO),
    or None when the name needs none or is not ASCII."""
    if not name.isascii():
        return None
    # Leading dots are dropped from the alias (".husky" is HUSKY~1), and
    # make the name invalid 8.3 on their own.
    core = name.lstrip(".")
    base, dot, ext = core.rpartition(".")
    if not dot:
        base, ext = core, ""
    valid = core == name and len(base) <= 8 and len(ext) <= 3 and not set(name) & (_SHORT_BAD | {" "})
    if valid and "." not in base:
        return None
    stem = "".join("_" if c in _SHORT_BAD else c for c in base if c not in " .")[:6]
    ext = "".join("_" if c in _SHORT_BAD else c for c in ext if c != " ")[:3]
    return (stem, ext) if stem else None


def _literal_component(nfa: _Nfa, src: int, comp: str) -> int:
    end = nfa.chars(src, comp)
    short = _short_name(comp)
    if short is not None:
        # NTFS also answers to the short name, STEM~N[.EXT].
        stem, ext = short
        tilde = nfa.edge(nfa.chars(src, stem), "~")
        digits = nfa.edge(tilde, _Class((("1", "9"),), False))
        nfa.edge(digits, _Class((("0", "9"),), False), digits)
        if ext:
            digits = nfa.chars(nfa.edge(digits, "."), ext)
        nfa.eps[digits].append(end)
    return end


def _glob_component(nfa: _Nfa, src: int, comp: str) -> int:
    i = 0
    cur = src
    while i < len(comp):
        c = comp[i]
        if comp.startswith("**", i):
            loop = nfa.state()
            nfa.eps[cur].append(loop)
            nfa.edge(loop, _ANY, loop)
            cur = loop
            i += 2
        elif c == "*":
            loop = nfa.state()
            nfa.eps[cur].append(loop)
            nfa.edge(loop, _SEG, loop)
            cur = loop
            i += 1
        elif c == "?":
            cur = nfa.edge(cur, _SEG)
            i += 1
        elif c == "[" and (cls := _parse_class(comp, i)) is not None:
            cur = nfa.edge(cur, cls[0])
            i = cls[1]
        else:
            cur = nfa.edge(cur, c)
            i += 1
    return cur


class Glob:
    """A protected-path pattern, matched in time linear in the path whatever
    the pattern. ``*`` stays within a component, ``**`` crosses them, ``**/``
    is zero or more whole folders, ``?`` one character, ``[a-z]``/``[!a-z]``
    a class; a match on a folder covers everything below it. Components are
    folded (``fold_name``) on both sides, and a long literal component also
    matches its NTFS short name (``creden~1`` for ``credentials``)."""

    _MAX_CACHE = 4096

    def __init__(self, pattern: str) -> None:
        pat = pattern.replace("\\", "/").strip("/")
        # fold_name leaves "" and "**" as they are.
        comps = [fold_name(c) for c in pat.split("/")] if pat else []
        nfa = _Nfa()
        cur = start = nfa.state()
        for k, comp in enumerate(comps):
            last = k == len(comps) - 1
            if comp == "**" and not last:
                # "**/": zero or more whole folders.
                loop = nfa.state()
                nfa.eps[cur].append(loop)
                mid = nfa.state()
                nfa.edge(loop, _ANY, mid)
                nfa.edge(mid, _ANY, mid)
                nfa.edge(mid, "/", loop)
                nfa.edge(loop, "/", loop)
                cur = loop
                continue
            if any(ch in comp for ch in "*?["):
                cur = _glob_component(nfa, cur, comp)
            else:
                cur = _literal_component(nfa, cur, comp)
            if not last:
                cur = nfa.edge(cur, "/")
        self._accept = cur
        self._nfa = nfa
        self._closure = [self._close({s}) for s in range(len(nfa.eps))]
        self._start = self._closure[start]
        self._step: dict[tuple[frozenset[int], str], frozenset[int]] = {}

    def _close(self, states: set[int]) -> frozenset[int]:
        todo = list(states)
        seen = set(states)
        while todo:
            for t in self._nfa.eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)

    def _next(self, cur: frozenset[int], ch: str) -> frozenset[int]:
        key = (cur, ch)
        got = self._step.get(key)
        if got is None:
            out: set[int] = set()
            for s in cur:
                for edge, dst in self._nfa.edges[s]:
                    if _edge_ok(edge, ch):
                        out |= self._closure[dst]
            got = frozenset(out)
            if len(self._step) >= self._MAX_CACHE:
                self._step.clear()
            self._step[key] = got
        return got

    def match_folded(self, folded: str) -> bool:
        """Whether an already folded path (``fold_path``) is covered."""
        cur = self._start
        for ch in folded:
            if ch == "/" and self._accept in cur:
                return True
            cur = self._next(cur, ch)
            if not cur:
                return False
        return self._accept in cur

    def __call__(self, path: str) -> bool:
        return self.match_folded(fold_path(path))


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> Glob:
    """The compiled ``Glob`` for ``pattern`` (cached)."""
    return Glob(pattern)


def matches_any(path: str, patterns: Iterable[str]) -> str | None:
    """The first glob in ``patterns`` that covers ``path``, or None."""
    folded = fold_path(path)
    for p in patterns:
        if compile_glob(p).match_folded(folded):
            return p
    return None


def check_path(path: str, policy: GovernancePolicy = DEFAULT_POLICY) -> list[Refusal]:
    """Lexical checks of one path a patch writes, renames or deletes."""
    out: list[Refusal] = []

    def refuse(rule: str, message: str) -> None:
        out.append(Refusal(path=path, rule=rule, message=message))

    if _CONTROL_RE.search(path):
        refuse(CONTROL_CHARACTER, "path contains a NUL or control character")
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that no byte string decodes to
        raw = path.encode("utf-8", "surrogatepass")
    if len(raw) > _PATH_MAX or any(len(c) > _NAME_MAX for c in raw.split(b"/")):
        # The write would fail with ENAMETOOLONG; say so before, in check too.
        refuse(NAME_TOO_LONG, f"a path component is longer than {_NAME_MAX} bytes or the path than {_PATH_MAX}")
    if path.startswith(("/", "\\")):
        refuse(ABSOLUTE_PATH, "path is absolute; patches may only name paths inside the workspace")
    if _DRIVE_RE.match(path):
        refuse(DRIVE_LETTER, "path starts with a drive letter")
    parts = components(path)
    # "..", and what Windows reads as "..": ". .", ".. ", "..." (dots and spaces, two dots at least).
    if any(p.rstrip(" .") == "" and p.count(".") >= 2 for p in parts):
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


def judge_link(path: str, target: bytes, policy: GovernancePolicy, lookup: Callable[[str], bytes | None]) -> str | None:
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
    if hit or any(is_git_name(p) or is_state_name(p) for p in parts) or matches_any(path, policy.protected_paths):
        why = f"matches {hit!r}" if hit else "is protected"
        return [Refusal(path=path, rule=EXEC_BIT, message=f"setting the executable bit is refused: path {why}")]
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


def check_patch_size(size: int, policy: GovernancePolicy = DEFAULT_POLICY, *, path: str = "") -> list[Refusal]:
    """Refuse a patch larger than ``max_patch_bytes`` (checked before parsing)."""
    if size > policy.max_patch_bytes:
        return [
            Refusal(
                path=path or "-",
                rule=PATCH_TOO_LARGE,
                message=f"the patch has more than {policy.max_patch_bytes} bytes (max_patch_bytes)",
            )
        ]
    return []


def check_total(total: int, policy: GovernancePolicy = DEFAULT_POLICY, *, path: str = "") -> list[Refusal]:
    """Refuse a patch whose written files add up to more than ``max_total_bytes``."""
    if total > policy.max_total_bytes:
        return [
            Refusal(
                path=path or "-",
                rule=TOTAL_TOO_LARGE,
                message=f"the patch writes more than {policy.max_total_bytes} bytes in total (max_total_bytes)",
            )
        ]
    return []
