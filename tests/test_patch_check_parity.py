"""``check`` (dry run) says "would apply" exactly when ``apply`` applies: both
run the same parse, governance and in-memory plan (issue 7 item 9)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from patch_support import snapshot

from autopack_core.errors import PatchError
from autopack_core.patching import GovernancePolicy, governed_apply

NAMES = st.sampled_from(
    [
        "a.txt",
        "d",
        "d/x.txt",
        "d/new.txt",
        "f",
        "f/x",
        "ln",
        "ln/x",
        "new/deep/n.txt",
        "n" * 256,
        "secrets/k",
        ".gitmodules",
    ]
)


def _workspace(root: Path) -> Path:
    ws = root / "ws"
    (ws / "d").mkdir(parents=True)
    (ws / "a.txt").write_text("one\ntwo\n")
    (ws / "d" / "x.txt").write_text("x\n")
    (ws / "f").write_text("f\n")
    os.symlink("d", ws / "ln")
    return ws


def _op(kind: str, a: str, b: str) -> str:
    if kind == "new":
        return f"--- /dev/null\n+++ b/{a}\n@@ -0,0 +1 @@\n+new\n"
    if kind == "modify":
        return f"--- a/{a}\n+++ b/{a}\n@@ -1 +1 @@\n-x\n+y\n"
    if kind == "delete":
        return f"diff --git a/{a} b/{a}\ndeleted file mode 100644\n--- a/{a}\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    if kind in ("rename", "copy"):
        return f"diff --git a/{a} b/{b}\nsimilarity index 100%\n{kind} from {a}\n{kind} to {b}\n"
    if kind == "chmod":
        return f"diff --git a/{a} b/{a}\nold mode 100644\nnew mode 100755\n"
    if kind == "link":
        return (
            f"diff --git a/{a} b/{a}\nnew file mode 120000\n--- /dev/null\n+++ b/{a}\n"
            f"@@ -0,0 +1 @@\n+{b}\n\\ No newline at end of file\n"
        )
    return f"{a}\n<<<<<<< SEARCH\n=======\nblock\n>>>>>>> REPLACE\n"


def _outcome(patch: str, ws: Path, dry: bool) -> tuple:
    policy = GovernancePolicy(protected_paths=(".git/", ".autopack/", "secrets/"))
    try:
        r = governed_apply(patch, ws, policy, dry_run=dry)
    except PatchError as exc:
        return ("error", type(exc).__name__)
    if r.refusals:
        return ("refused", tuple(sorted({x.rule for x in r.refusals})))
    return ("ok", r.files)


@settings(
    max_examples=int(os.environ.get("PARITY_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["new", "modify", "delete", "rename", "copy", "chmod", "link", "block"]), NAMES, NAMES
        ),
        min_size=1,
        max_size=4,
    )
)
def test_check_agrees_with_apply(tmp_path_factory, ops) -> None:
    root = tmp_path_factory.mktemp("parity")
    ws = _workspace(root)
    patch = "".join(_op(*op) for op in ops)
    before = snapshot(ws)
    checked = _outcome(patch, ws, dry=True)
    assert snapshot(ws) == before  # check never writes
    applied = _outcome(patch, ws, dry=False)
    assert checked == applied, patch
    if applied[0] != "ok":
        assert snapshot(ws) == before
    shutil.rmtree(root)
