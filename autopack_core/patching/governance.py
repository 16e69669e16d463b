"""What a Builder edit may touch, decided before anything is written.

Every check returns ``Refusal(path, rule, message)`` values rather than
raising, so one reply's every problem is reported at once and each becomes
part of a ``PatchRefused`` event. Rule names are stable (documented in
docs/governed-apply.md); config and dashboards key on them.

Path checks are lexical first (no file system access), then look at the
workspace with ``lstat`` only, so a hostile path is never followed.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import attrs

from autopack_core.events import Refusal

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


@attrs.frozen(kw_only=True)
class GovernancePolicy:
    """Limits a patch must respect. ``.git`` and ``.autopack`` are refused
    whatever ``protected_paths`` says; the defaults list them so config that
    prints the policy shows them.

    - ``protected_paths``: glob patterns relative to the workspace. ``*``
      stays within one path component, ``**`` crosses them, a trailing ``/``
      means the directory and everything under it; a pattern that matches a
      parent directory protects everything below it. Matching ignores case, as
      case-insensitive file systems would.
    - ``exec_protected_paths``: globs where setting the executable bit is
      refused (hook directories that ``core.hooksPath`` commonly points at).
    - ``fuzz``: how many context lines a hunk may lose at each end when it
      does not match exactly (0 = as ``git apply`` by default).
    - ``max_patch_bytes``: the largest patch (reply) read at all.
    - ``max_binary_bytes``: what one binary patch's data may inflate to;
      inflation stops at this size, so a zlib bomb never allocates more.
    - ``max_total_bytes``: the total size of the files one patch writes
      (copies and renames count in full).
    """

    protected_paths: tuple[str, ...] = (".git/", ".autopack/")
    exec_protected_paths: tuple[str, ...] = (".githooks/", ".husky/")
    allow_binary_patches: bool = False
    max_file_bytes: int = 16 * 1024 * 1024
    max_hunk_lines: int = 100_000
    fuzz: int = 0
    max_patch_bytes: int = 32 * 1024 * 1024
    max_binary_bytes: int = 32 * 1024 * 1024
    max_total_bytes: int = 256 * 1024 * 1024


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


class LstatCache:
    """``lstat`` modes of workspace paths, looked up once per patch (files of
    one patch share most of their parent directories)."""

    def __init__(self, root: Path | str) -> None:
        self.root = str(root)
        self._modes: dict[str, int | None | OSError] = {}

    def mode(self, rel: str) -> int | None:
        """``st_mode`` of ``rel`` without following it; None if it does not exist."""
        got = self._modes.get(rel, False)
        if got is False:
            try:
                got = os.lstat(os.path.join(self.root, rel)).st_mode
            except (FileNotFoundError, NotADirectoryError):
                got = None
            except OSError as exc:
                got = exc
            self._modes[rel] = got
        if isinstance(got, OSError):
            raise got
        return got  # type: ignore[return-value]


def check_parents(path: str, root: Path | LstatCache) -> list[Refusal]:
    """Refuse a path when any directory on the way to it is a symlink.

    ``root`` must already be resolved. Only ``lstat`` is used, so nothing is
    followed; a component that does not exist yet ends the walk (it will be
    created as a real directory).
    """
    cache = root if isinstance(root, LstatCache) else LstatCache(root)
    parts = components(path)
    for i in range(len(parts) - 1):
        rel = "/".join(parts[: i + 1])
        try:
            mode = cache.mode(rel)
        except OSError as exc:
            return [Refusal(path=path, rule=SYMLINK_WRITE, message=f"cannot inspect {rel}: {exc.strerror}")]
        if mode is None:
            return []
        if stat.S_ISLNK(mode):
            return [
                Refusal(
                    path=path,
                    rule=SYMLINK_WRITE,
                    message=f"parent directory {rel} is a symlink; writing through it is refused",
                )
            ]
    return []


def is_symlink(path: str, root: Path | LstatCache) -> bool:
    """True when ``path`` itself is a symlink (not followed)."""
    cache = root if isinstance(root, LstatCache) else LstatCache(root)
    try:
        mode = cache.mode(path)
    except OSError:
        return False
    return mode is not None and stat.S_ISLNK(mode)


def check_symlink_target(
    path: str, target: bytes, policy: GovernancePolicy = DEFAULT_POLICY
) -> list[Refusal]:
    """A new or changed symlink must point inside the workspace and not at a
    protected path (it would be a door for later writes)."""
    t = target.decode("utf-8", "surrogateescape")
    if not t or t.startswith(("/", "\\")) or _DRIVE_RE.match(t) or _CONTROL_RE.search(t):
        return [
            Refusal(path=path, rule=SYMLINK_ESCAPE, message=f"symlink target {t!r} is absolute or invalid")
        ]
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), t.replace("\\", "/")))
    if joined == ".." or joined.startswith("../") or joined.startswith("/"):
        return [
            Refusal(
                path=path, rule=SYMLINK_ESCAPE, message=f"symlink target {t!r} points outside the workspace"
            )
        ]
    if joined != "." and check_path(joined, policy):
        return [
            Refusal(
                path=path, rule=SYMLINK_ESCAPE, message=f"symlink target {t!r} points into a protected path"
            )
        ]
    return []


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
