"""Tests that kill mutants of ``patching/governance.py`` that the other patch
tests let live (issue 7 item 9): each asserts a behaviour a fault in one line
of the glob compiler, the link judges or the limits would change."""

from __future__ import annotations

import os
from pathlib import Path

from autopack_core.patching import GovernancePolicy
from autopack_core.patching.fsaccess import WorkspaceFS
from autopack_core.patching.governance import (
    Glob,
    check_exec,
    check_parents,
    check_patch_size,
    check_size,
    check_symlink_target,
    check_total,
    is_symlink,
    matches_any,
)


def test_spaces_are_dropped_from_a_short_name_extension() -> None:
    # NTFS drops spaces from both parts of the 8.3 alias: "credentials.j son" is CREDEN~1.JSO.
    assert matches_any("creden~1.jso", ["credentials.j son"]) == "credentials.j son"
    assert matches_any("creden~1.j s", ["credentials.j son"]) is None


def test_limit_refusals_are_exact_at_the_boundary() -> None:
    policy = GovernancePolicy(max_file_bytes=10, max_patch_bytes=20, max_total_bytes=30)
    assert check_size("a", 10, policy) == [] and check_patch_size(20, policy) == [] and check_total(30, policy) == []
    assert [(r.path, r.rule, r.message) for r in check_size("a", 11, policy)] == [
        ("a", "file-too-large", "resulting file has 11 bytes; the limit is 10")
    ]
    assert [(r.path, r.rule, r.message) for r in check_patch_size(21, policy)] == [
        ("-", "patch-too-large", "the patch has more than 20 bytes (max_patch_bytes)")
    ]
    assert [(r.path, r.rule, r.message) for r in check_total(31, policy)] == [
        ("-", "total-too-large", "the patch writes more than 30 bytes in total (max_total_bytes)")
    ]
    # A named patch file or the file that crossed the total is named instead of "-".
    assert [r.path for r in check_patch_size(21, policy, path="p.diff")] == ["p.diff"]
    assert [r.path for r in check_total(31, policy, path="b")] == ["b"]


def test_exec_refusals_say_which_rule() -> None:
    policy = GovernancePolicy(protected_paths=("src/",))
    assert [(r.rule, r.message) for r in check_exec(".husky/pre-commit", 0o100755, policy)] == [
        ("exec-bit", "setting the executable bit is refused: path matches '.husky/'")
    ]
    assert [(r.rule, r.message) for r in check_exec("src/run.sh", 0o100755, policy)] == [
        ("exec-bit", "setting the executable bit is refused: path is protected")
    ]


def test_exec_rule_reads_only_the_execute_bits() -> None:
    # Any one execute bit counts (others' alone too); a write bit is not an execute bit.
    assert [r.rule for r in check_exec(".husky/x", 0o100001)] == ["exec-bit"]
    assert [r.rule for r in check_exec(".husky/x", 0o100010)] == ["exec-bit"]
    assert check_exec(".husky/x", 0o100666) == []


def test_the_step_cache_never_holds_more_than_its_bound() -> None:
    g = Glob("q*x")
    for k in range(5000):
        g("q" + chr(0x4E00 + k))
        assert len(g._step) <= Glob._MAX_CACHE


def test_symlink_target_refusals_are_exact() -> None:
    policy = GovernancePolicy(protected_paths=("secrets/",))
    links = {"a": b".", "loop": b"loop"}

    def said(path: str, target: bytes) -> list[tuple[str, str, str]]:
        return [(r.path, r.rule, r.message) for r in check_symlink_target(path, target, policy, links.get)]

    assert said("b", b"a/..") == [("b", "symlink-escape", "symlink target 'a/..' points outside the workspace")]
    assert said("s", b"a/secrets") == [
        ("s", "symlink-escape", "symlink target 'a/secrets' points into a protected path (secrets)")
    ]
    assert said("h", b".githooks/pre-commit") == [
        (
            "h",
            "symlink-escape",
            (
                "symlink target '.githooks/pre-commit' points into '.githooks/', where git would run what it finds"
                " (.githooks/pre-commit)"
            ),
        )
    ]
    assert said("l", b"loop") == [
        ("l", "symlink-escape", "symlink target 'loop' is a loop or a chain of more than 40 symlinks")
    ]
    assert said(".husky/x", b"../tool.sh") == [
        (".husky/x", "exec-bit", "symlinks are refused under '.husky/': git would run what they point at")
    ]
    assert said("e", b"") == [("e", "symlink-escape", "symlink target '' is empty or invalid")]
    assert said("x", b"a" * 4096) == [("x", "symlink-escape", "symlink target has 4096 bytes; the limit is 4095")]


def test_parent_refusals_name_the_link(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    os.symlink("e", tmp_path / "d" / "ln")
    with WorkspaceFS(tmp_path) as fs:
        assert check_parents("top.txt", fs) == [] and check_parents("d/e/x", fs) == []
        assert [(r.path, r.rule, r.message) for r in check_parents("d/ln/x", fs)] == [
            ("d/ln/x", "symlink-write", "parent directory d/ln is a symlink; reading or writing through it is refused")
        ]
        assert is_symlink("d/ln", fs) and not is_symlink("d/e", fs) and not is_symlink("d/none", fs)


def test_a_folder_that_cannot_be_opened_is_refused_and_named(tmp_path: Path) -> None:
    # An error other than "missing" (here ENAMETOOLONG) refuses, naming the folder and the error.
    long = "n" * 300
    with WorkspaceFS(tmp_path) as fs:
        assert [(r.rule, r.message) for r in check_parents(f"{long}/x", fs)] == [
            ("symlink-write", f"cannot inspect {long}: File name too long")
        ]


def test_a_link_is_judged_as_posix_reads_it_too() -> None:
    # POSIX reads "k\l" as one name (a link to ".."); Windows would read k, l, x and stay inside.
    assert [r.rule for r in check_symlink_target("y", b"k\\l/x", lookup={"k\\l": b".."}.get)] == ["symlink-escape"]


def test_a_non_utf8_link_met_on_the_way_is_followed() -> None:
    links = {"a": b"caf\xe9", "b": b"caf\xe9/../.."}
    assert check_symlink_target("y", b"a/x", lookup=links.get) == []
    assert [r.rule for r in check_symlink_target("z", b"b/x", lookup=links.get)] == ["symlink-escape"]
