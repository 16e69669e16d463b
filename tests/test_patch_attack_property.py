"""Property: whatever mix of links, copies, renames, deletions and writes a
patch holds, applied to a workspace that may already hold hostile links,
nothing outside the workspace is read into it, written, moved or deleted; a
refused or failed patch leaves the workspace byte-identical; and every link
left in the workspace (but the hostile ones it started with) leads inside it
and outside protected folders, as the operating system resolves it."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopack_core.errors import PatchError
from autopack_core.patching import GovernancePolicy, governed_apply

POLICY = GovernancePolicy(protected_paths=(".git/", ".autopack/", "secrets/"))
CANARY = b"CANARY-5f1e0c\n"
BS = "k\\l"

# Hostile links something other than governed apply may have left behind.
HOSTILE = {
    "up": "..",
    f"{BS}/a": "..",
    f"{BS}/b": "a/..",
    "abs": "/",
    "loop": "loop",
    "dd/x": "../..",
    "dot": ".",
}

FILES = {"a.txt": b"a\n", "src/ok.txt": b"ok\n", "secrets/key.pem": b"KEY\n", f"{BS}/in.txt": b"in\n"}

# Names a path may be built from: real folders, the hostile links, the ways
# out of them, and the canary's files.
NAMES = st.sampled_from(
    [
        "a.txt",
        "src",
        "ok.txt",
        "secrets",
        "key.pem",
        BS,
        "k",
        "l",
        "up",
        "a",
        "b",
        "abs",
        "loop",
        "dd",
        "x",
        "dot",
        "canary",
        "data.txt",
        "new",
        "n.txt",
        "etc",
        "hostname",
        "ws",
    ]
)
# Most paths go through a door (a hostile link, or a link the patch itself
# makes) to somewhere that matters.
DOORS = st.sampled_from(["", "up/", f"{BS}/a/", f"{BS}/b/", "dd/x/", "dot/", "abs{base}/", "n1/", "n2/", f"{BS}/n1/"])
PLACES = st.sampled_from(
    [
        "canary/data.txt",
        "canary/victim.txt",
        "canary/src/ok.txt",
        "canary/new.txt",
        "ws/a.txt",
        "ws/secrets/key.pem",
        "secrets/key.pem",
        "a.txt",
        "src/ok.txt",
        "new/n.txt",
        "etc/hostname",
        "canary",
        "src",
    ]
)
THROUGH_DOORS = st.builds(lambda d, p: d + p, DOORS, PLACES)
PATHS = st.one_of(
    THROUGH_DOORS,
    THROUGH_DOORS,
    THROUGH_DOORS,
    st.lists(NAMES, min_size=1, max_size=5).map("/".join),
)
LINK_PATHS = st.one_of(st.sampled_from(["n1", "n2", f"{BS}/n1", "src/n1", "dot/n2", ".githooks/h"]), PATHS)
TARGETS = st.one_of(
    st.lists(
        st.sampled_from([".", "..", "a", "b", "up", "dot", "src", BS, "canary", "secrets", "ws", "l"]),
        min_size=1,
        max_size=6,
    ).map("/".join),
    st.sampled_from(
        [
            "/",
            "/etc",
            "{base}/canary",
            "..\\canary",
            "src\\..\\..",
            "/etc/passwd",
            "n1/..",
            "n2/../..",
            "n1/../canary",
            "n1/secrets",
            f"{BS}/n1/..",
            "up",
            "dd/x",
        ]
    ),
)


def _content_of(path: str) -> bytes:
    # What a path most likely holds, so that deletions and edits fit and only
    # governance can stop them (canary files hold the canary).
    return FILES.get(path, CANARY)


def _lines(body: bytes) -> str:
    return "".join("+" + ln + "\n" for ln in body.decode().splitlines())


OPS = st.one_of(
    st.tuples(st.just("link"), LINK_PATHS, TARGETS),
    st.tuples(st.just("write"), PATHS, st.just("")),
    st.tuples(st.just("copy"), PATHS, PATHS),
    st.tuples(st.just("rename"), PATHS, PATHS),
    st.tuples(st.just("delete"), PATHS, st.just("")),
    st.tuples(st.just("modify"), PATHS, st.just("")),
    st.tuples(st.just("replace"), PATHS, st.just("")),
)


def _patch(ops: list[tuple[str, str, str]], base: Path) -> str:
    out = []
    for op, p, q in ops:
        p, q = p.replace("{base}", str(base)), q.replace("{base}", str(base))
        if op == "link":
            t = q.replace("{base}", str(base))
            out.append(
                f"diff --git a/{p} b/{p}\nnew file mode 120000\n--- /dev/null\n+++ b/{p}\n"
                f"@@ -0,0 +1 @@\n+{t}\n\\ No newline at end of file\n"
            )
        elif op == "write":
            out.append(
                f"diff --git a/{p} b/{p}\nnew file mode 100644\n--- /dev/null\n+++ b/{p}\n@@ -0,0 +1 @@\n+written\n"
            )
        elif op in ("copy", "rename"):
            out.append(f"diff --git a/{p} b/{q}\nsimilarity index 100%\n{op} from {p}\n{op} to {q}\n")
        elif op == "delete":
            body = _content_of(p).decode()
            out.append(
                f"diff --git a/{p} b/{p}\ndeleted file mode 100644\n--- a/{p}\n+++ /dev/null\n@@ -1 +0,0 @@\n-{body}"
            )
        elif op == "modify":
            body = _content_of(p).decode()
            out.append(f"--- a/{p}\n+++ b/{p}\n@@ -1 +1 @@\n-{body}+pwned\n")
        else:
            body = _content_of(p).decode()
            out.append(f"{p}\n<<<<<<< SEARCH\n{body}=======\npwned\n>>>>>>> REPLACE\n")
    return "".join(out)


def _tree(root: Path) -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st_ = os.lstat(full)
            rel = os.path.relpath(full, root)
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = ("link", os.readlink(os.fsencode(full)))
            elif stat.S_ISDIR(st_.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st_.st_mode))
            else:
                with open(full, "rb") as fh:
                    out[rel] = ("file", stat.S_IMODE(st_.st_mode), hashlib.sha256(fh.read()).hexdigest())
    return out


# Hundreds of small trees: a memory file system where there is one (removing
# folders on a loaded disk costs milliseconds each).
_FAST_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(OPS, min_size=1, max_size=3),
    hostile=st.one_of(st.just(set(HOSTILE)), st.sets(st.sampled_from(sorted(HOSTILE)))),
)
def test_no_patch_reaches_outside(ops: list[tuple[str, str, str]], hostile: set[str]) -> None:
    with tempfile.TemporaryDirectory(dir=_FAST_TMP) as tmp:
        base = Path(os.path.realpath(tmp))
        ws, canary = base / "ws", base / "canary"
        canary.mkdir()
        for name in ("data.txt", "victim.txt", "file"):
            (canary / name).write_bytes(CANARY)
        (canary / "src").mkdir()
        (canary / "src" / "ok.txt").write_bytes(CANARY)
        for rel, body in FILES.items():
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            (ws / rel).write_bytes(body)
        for rel in hostile:
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(HOSTILE[rel], ws / rel)
        canary_before, ws_before = _tree(canary), _tree(ws)
        patch = _patch(ops, base)
        try:
            result = governed_apply(patch, ws, POLICY)
            ok = result.ok
        except PatchError:
            ok = False
        # Nothing outside written, moved or deleted; nothing left beside.
        assert _tree(canary) == canary_before, patch
        assert sorted(os.listdir(base)) == ["canary", "ws"]
        after = _tree(ws)
        if not ok:
            assert after == ws_before, patch
            return
        root = str(ws)
        for rel, entry in after.items():
            if entry[0] == "file":
                # Nothing outside was read into the workspace.
                assert CANARY not in (ws / rel).read_bytes(), (rel, patch)
            if entry[0] == "link" and not (rel in hostile and ws_before.get(rel) == entry):
                # Resolved by the OS (missing names step through lexically,
                # as governance assumes they may later be folders).
                real = os.path.realpath(ws / rel)
                assert _inside(real, root), (rel, real, patch)
                assert not _inside(real, str(ws / "secrets")), (rel, real, patch)
