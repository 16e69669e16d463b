"""Governance's symlink resolver against the operating system's.

``resolve_link`` judges a link by where it leads in a tree it is told about
(the workspace as it will be after a patch). On a real tree it must agree
with ``os.path.realpath``, which asks the kernel about every component: same
place when the link stays inside, "outside" exactly when the OS leaves the
workspace. Folders, files and missing names are stepped through alike by
both (realpath does not stop at a file or a missing name).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack_core.patching import GovernancePolicy
from autopack_core.patching.governance import (
    LinkLoop,
    check_symlink_target,
    resolve_link,
)

SLOTS = ["a", "b", "c", "d/x", "d/y", "e/f/g", "k\\l/m"]
STEPS = [".", "..", "a", "b", "c", "d", "x", "y", "e", "f", "g", "k\\l", "m", "f.txt", "nope", ""]
_FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def _lookup(ws: Path):
    def lookup(rel: str) -> bytes | None:
        p = os.fsencode(ws / rel)
        return os.readlink(p) if os.path.islink(p) else None

    return lookup


@settings(max_examples=300, deadline=None)
@given(
    links=st.dictionaries(
        st.sampled_from(SLOTS),
        st.one_of(
            st.lists(st.sampled_from(STEPS), min_size=1, max_size=6).map("/".join),
            st.sampled_from(["/", "/etc", "//x"]),
        ),
        min_size=1,
    )
)
def test_resolver_agrees_with_the_kernel(links: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(dir=_FAST_TMP) as tmp:
        ws = Path(os.path.realpath(tmp)) / "ws"
        for d in ("d", "e/f", "k\\l"):
            (ws / d).mkdir(parents=True)
        (ws / "f.txt").write_text("f\n")
        for path, target in links.items():
            if target == "" or target.endswith("/") and target.strip("/") == "":
                target = target or "."
            os.symlink(target, ws / path)
        root = str(ws)
        for path, target in links.items():
            raw = os.readlink(os.fsencode(ws / path))
            try:
                ours = resolve_link(path, raw, _lookup(ws))
            except LinkLoop:
                continue  # the OS says ELOOP; governance refuses it
            theirs = os.path.realpath(ws / path)
            inside = theirs == root or theirs.startswith(root + os.sep)
            if ours is None:
                assert not inside, (path, target, theirs, links)
            else:
                assert theirs == os.path.join(root, ours).rstrip(os.sep), (path, target, ours, theirs, links)


@pytest.mark.parametrize(
    "target,where",
    [
        ("x/../..", None),  # a missing name is stepped through like a folder
        ("f.txt/../..", None),  # so is a file
        ("d/../d/./x", "d/x"),
        ("/", None),
        ("k\\l/m", "k\\l/m"),  # POSIX: one name
    ],
)
def test_resolve_link_cases(target: str, where: str | None) -> None:
    assert resolve_link("top", target.encode(), lambda rel: None) == where


def test_backslash_reading_as_windows() -> None:
    def none(rel: str) -> None:
        return None

    assert resolve_link("top", b"a\\..\\..", none) == "a\\..\\.."
    assert resolve_link("top", b"a\\..\\..", none, backslash=True) is None
    assert resolve_link("top", b"C:\\x", none, backslash=True) is None
    assert resolve_link("top", b"\\\\server\\share", none, backslash=True) is None
    # POSIX pops the one odd name back to the root; Windows climbs out.
    assert resolve_link("top", b"a\\..\\../..", none) == ""
    assert check_symlink_target("top", b"a\\..\\../..")[0].rule == "symlink-escape"


def test_chain_longer_than_forty_links_is_a_loop() -> None:
    # As Linux (MAXSYMLINKS): 40 links in a row resolve, 41 do not.
    forty = {f"l{i}": f"l{i + 1}".encode() for i in range(40)}
    assert resolve_link("l0", b"l1", forty.get) == "l40"
    forty_one = {f"l{i}": f"l{i + 1}".encode() for i in range(41)}
    with pytest.raises(LinkLoop):
        resolve_link("l0", b"l1", forty_one.get)


def test_check_symlink_target_messages() -> None:
    policy = GovernancePolicy(protected_paths=("secrets/",))
    links = {"a": b"."}
    assert check_symlink_target("ok", b"src", policy, links.get) == []
    (r,) = check_symlink_target("s", b"a/secrets", policy, links.get)
    assert r.rule == "symlink-escape" and "protected path (secrets)" in r.message
    (r,) = check_symlink_target("b", b"a/..", policy, links.get)
    assert "outside the workspace" in r.message
    rules = {r.rule for r in check_symlink_target(".husky/x", b"../tool.sh", policy, links.get)}
    assert rules == {"exec-bit"}
    (r,) = check_symlink_target("h", b".githooks/pre-commit", policy, links.get)
    assert r.rule == "symlink-escape" and ".githooks/" in r.message
    assert check_symlink_target("e", b"", policy)[0].rule == "symlink-escape"
    assert check_symlink_target("n", b"caf\xe9\xff", policy) == []


def test_overlong_target_is_refused_before_it_is_walked() -> None:
    (r,) = check_symlink_target("x", b"a/" * 5000)
    assert r.rule == "symlink-escape" and "the limit is 4095" in r.message
    assert check_symlink_target("x", b"a" * 4095) == []
