"""Issue 7, items 1-4, as an attacker would try them.

Every test builds a workspace with a canary folder beside it (standing for the
rest of the machine) and asserts the canary is untouched, whatever the patch
did. Where a patch is refused the whole workspace must be byte-identical to
before (link targets and modes included). Where the issue says git refuses,
real ``git apply`` is run on the same patch for comparison.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from patch_support import git_apply

from autopack_core.errors import PatchApplyError, PatchError
from autopack_core.patching import GovernancePolicy, governed_apply, parse_reply

POLICY = GovernancePolicy(protected_paths=(".git/", ".autopack/", "secrets/"))


def tree(root: Path) -> dict[str, tuple]:
    """Everything under ``root``: kind, permission bits, bytes or link target."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(os.fsencode(full)))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", perm)
            else:
                with open(full, "rb") as fh:
                    out[rel] = ("file", perm, hashlib.sha256(fh.read()).hexdigest())
    return out


class Sandbox:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.ws = base / "ws"
        self.canary = base / "canary"
        self.ws.mkdir()
        self.canary.mkdir()
        (self.canary / "data.txt").write_text("canary data\n")
        (self.canary / "victim.txt").write_text("victim\n")
        (self.canary / "file").write_text("outside file\n")
        (self.ws / "a.txt").write_text("a\n")
        (self.ws / "secrets").mkdir()
        (self.ws / "secrets" / "key.pem").write_text("KEY\n")
        (self.ws / "src").mkdir()
        (self.ws / "src" / "ok.txt").write_text("ok\n")
        self.canary_before = tree(self.canary)

    def link(self, rel: str, target: str) -> None:
        p = self.ws / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)

    def canary_untouched(self) -> None:
        assert tree(self.canary) == self.canary_before
        # Nothing new beside the workspace either (a temp file, a moved file).
        assert sorted(os.listdir(self.base)) == ["canary", "ws"]

    def refused(self, patch: str | bytes, rule: str | None = None, policy: GovernancePolicy = POLICY) -> list:
        """Apply ``patch``; it must be refused (or fail) and change nothing."""
        before = tree(self.ws)
        try:
            result = governed_apply(patch, self.ws, policy)
        except PatchError as exc:
            assert rule is None, f"expected a {rule} refusal, got an error: {exc}"
            reasons = []
        else:
            assert not result.ok, f"accepted: {result.files}"
            reasons = [(r.path, r.rule) for r in result.refusals]
            if rule is not None:
                assert rule in [r for _, r in reasons], reasons
        assert tree(self.ws) == before
        self.canary_untouched()
        return reasons


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


def symlink(path: str, target: str) -> str:
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 120000\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
    )


def new_file(path: str, body: str = "x\n", mode: str = "100644") -> str:
    lines = body.splitlines(keepends=True)
    return (
        f"diff --git a/{path} b/{path}\nnew file mode {mode}\n--- /dev/null\n+++ b/{path}\n"
        f"@@ -0,0 +1,{len(lines)} @@\n" + "".join("+" + ln for ln in lines)
    )


def copy(src: str, dst: str) -> str:
    return f"diff --git a/{src} b/{dst}\nsimilarity index 100%\ncopy from {src}\ncopy to {dst}\n"


def rename(src: str, dst: str) -> str:
    return f"diff --git a/{src} b/{dst}\nsimilarity index 100%\nrename from {src}\nrename to {dst}\n"


def delete(path: str, body: str) -> str:
    lines = body.splitlines(keepends=True)
    return (
        f"diff --git a/{path} b/{path}\ndeleted file mode 100644\n--- a/{path}\n+++ /dev/null\n"
        f"@@ -1,{len(lines)} +0,0 @@\n" + "".join("-" + ln for ln in lines)
    )


# --- finding 1: reads, moves and deletes through chains of links -----------------------

BS = "k\\l"  # a folder whose name holds a backslash: one ordinary name on POSIX


def test_backslash_folder_link_chain_is_refused_as_a_whole(sb: Sandbox) -> None:
    # The links the issue used to build its escape: b already leaves the
    # workspace once a resolves to the root.
    patch = symlink(f"{BS}/a", "..") + symlink(f"{BS}/b", "a/..") + symlink(f"{BS}/c", "b/..")
    reasons = sb.refused(patch, "symlink-escape")
    assert (f"{BS}/b", "symlink-escape") in reasons and (f"{BS}/c", "symlink-escape") in reasons
    assert (f"{BS}/a", "symlink-escape") not in reasons  # a alone points at the workspace root


def test_backslash_folder_chain_split_over_two_patches(sb: Sandbox) -> None:
    assert governed_apply(symlink(f"{BS}/a", ".."), sb.ws, POLICY).ok
    # The second patch is judged against the link the first one left.
    sb.refused(symlink(f"{BS}/b", "a/.."), "symlink-escape")


@pytest.fixture
def hostile(sb: Sandbox) -> Sandbox:
    """A workspace that already holds the chain (put there by something other
    than governed apply): k\\l/a -> .. (the workspace), k\\l/b -> a/.. (the
    folder holding the canary), k\\l/e -> a deep chain to /."""
    sb.link(f"{BS}/a", "..")
    sb.link(f"{BS}/b", "a/..")
    sb.link(f"{BS}/e", "b/" + "../" * 40)
    return sb


THROUGH_LINKS = [
    copy(f"{BS}/b/canary/data.txt", "stolen.txt"),
    copy(f"{BS}/e/etc/hostname", "hostname"),
    copy(f"{BS}/e/etc/passwd", "passwd"),
    rename(f"{BS}/b/canary/data.txt", "moved.txt"),
    delete(f"{BS}/b/canary/victim.txt", "victim\n"),
    delete(f"{BS}/a/secrets/key.pem", "KEY\n"),
    rename(f"{BS}/a/secrets/key.pem", "key.pem"),
    f"--- a/{BS}/b/canary/data.txt\n+++ b/{BS}/b/canary/data.txt\n@@ -1 +1 @@\n-canary data\n+pwned\n",
    f"{BS}/b/canary/data.txt\n<<<<<<< SEARCH\ncanary data\n=======\npwned\n>>>>>>> REPLACE\n",
    f"{BS}/b/canary/new.txt\n<<<<<<< SEARCH\n=======\npwned\n>>>>>>> REPLACE\n",
]
THROUGH_LINKS_IDS = [
    "copy-from-canary",
    "copy-etc-hostname",
    "copy-etc-passwd",
    "rename-from-canary",
    "delete-in-canary",
    "delete-protected",
    "rename-protected",
    "modify-in-canary",
    "search-replace-in-canary",
    "create-in-canary",
]


@pytest.mark.parametrize("patch", THROUGH_LINKS, ids=THROUGH_LINKS_IDS)
def test_reads_moves_and_deletes_through_existing_links_are_refused(hostile: Sandbox, patch: str) -> None:
    hostile.refused(patch, "symlink-write")


# git apply reads diffs only (the last two are search/replace blocks).
@pytest.mark.parametrize("patch", THROUGH_LINKS[:-2], ids=THROUGH_LINKS_IDS[:-2])
def test_git_apply_also_refuses_reading_through_links(hostile: Sandbox, patch: str) -> None:
    before = tree(hostile.ws)
    assert git_apply(hostile.ws, patch.encode()).returncode != 0
    assert tree(hostile.ws) == before
    hostile.canary_untouched()


def test_hard_link_to_a_file_outside_is_replaced_not_written_through(sb: Sandbox) -> None:
    # A hard link cannot be told from a file, but the file outside shares
    # only the inode: every write is a new file moved into place, and so is
    # every rollback, so the inode outside never changes.
    os.link(sb.canary / "data.txt", sb.ws / "hl.txt")
    patch = "--- a/hl.txt\n+++ b/hl.txt\n@@ -1 +1 @@\n-canary data\n+changed\n"
    assert governed_apply(patch, sb.ws, POLICY).ok
    assert (sb.ws / "hl.txt").read_text() == "changed\n"
    sb.canary_untouched()
    os.unlink(sb.ws / "hl.txt")
    os.link(sb.canary / "data.txt", sb.ws / "hl.txt")
    with pytest.raises(PatchApplyError):
        governed_apply(patch + "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-nope\n+x\n", sb.ws, POLICY)
    sb.canary_untouched()
    assert governed_apply(delete("hl.txt", "canary data\n"), sb.ws, POLICY).ok
    sb.canary_untouched()


def test_backslash_is_an_ordinary_character_in_names(sb: Sandbox) -> None:
    # A real folder named k\l with a link in it: the parent check must see it.
    sb.link(f"{BS}/door", "../../canary")
    sb.refused(new_file(f"{BS}/door/pwned.txt"), "symlink-write")
    # And a plain new file in such a folder is written there, not in k/l.
    assert governed_apply(new_file(f"{BS}/fine.txt"), sb.ws, POLICY).ok
    assert (sb.ws / BS / "fine.txt").read_text() == "x\n" and not (sb.ws / "k").exists()
    sb.canary_untouched()


def test_lookup_errors_fail_closed(sb: Sandbox) -> None:
    # A name the file system cannot hold (ENAMETOOLONG on lookup) is refused
    # before any lookup, by the lexical name-too-long rule; EACCES on the way
    # is covered in test_patch_matching (run as another user).
    long = "n" * 300
    r = governed_apply(f"{long}\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n", sb.ws, POLICY)
    assert [x.rule for x in r.refusals] == ["name-too-long"]
    reasons = sb.refused(new_file(f"{long}/x.txt"), "name-too-long")
    assert reasons
    sb.canary_untouched()


def test_deep_symlinked_parent_is_refused(sb: Sandbox) -> None:
    (sb.ws / "d1" / "d2").mkdir(parents=True)
    sb.link("d1/d2/d3", "../../../canary")
    for patch in (new_file("d1/d2/d3/pwned.txt"), copy("d1/d2/d3/data.txt", "stolen.txt")):
        sb.refused(patch, "symlink-write")


# --- finding 2: link targets judged against the tree as it will be ----------------------


@pytest.mark.parametrize(
    "links",
    [
        [("a", "."), ("b", "a/..")],
        [("d/up", ".."), ("esc", "d/up/..")],
        [("a", "."), ("leak", "a/../canary/file")],
        [("d/x", "../y"), ("y", ".."), ("z", "d/x/canary")],
        [("deep/er/up", "../../.."), ("w", "deep/er/up")],
    ],
    ids=["dot-then-dotdot", "up-then-dotdot", "leak-through-dot", "chain-of-three", "deep-climb"],
)
def test_links_that_really_point_outside_are_refused(sb: Sandbox, links: list[tuple[str, str]]) -> None:
    patch = "".join(symlink(p, t) for p, t in links)
    sb.refused(patch, "symlink-escape")
    # Each split over separate patches: the earlier links, once accepted, are
    # part of the tree the later ones are judged against.
    accepted = 0
    for p, t in links:
        result = governed_apply(symlink(p, t), sb.ws, POLICY)
        accepted += result.ok
        sb.canary_untouched()
    assert accepted < len(links)


def test_link_into_protected_folder_through_another_link(sb: Sandbox) -> None:
    reasons = sb.refused(symlink("a", ".") + symlink("s", "a/secrets"), "symlink-escape")
    assert ("s", "symlink-escape") in reasons
    sb.link("a", ".")
    sb.refused(symlink("s", "a/secrets"), "symlink-escape")
    sb.refused(symlink("g", "a/.git/hooks"), "symlink-escape")
    sb.refused(symlink("s2", "a/a/a/secrets/key.pem"), "symlink-escape")


def test_second_diff_in_the_same_reply_cannot_retarget_a_new_link(sb: Sandbox) -> None:
    retarget = (
        "diff --git a/l b/l\n--- a/l\n+++ b/l\n@@ -1 +1 @@\n-src\n\\ No newline at end of file\n"
        "+../canary\n\\ No newline at end of file\n"
    )
    sb.refused(symlink("l", "src") + retarget, "symlink-escape")


def test_retargeting_an_existing_link_is_judged(sb: Sandbox) -> None:
    sb.link("l", "src")
    patch = (
        "diff --git a/l b/l\nindex 1111111..2222222 120000\n--- a/l\n+++ b/l\n@@ -1 +1 @@\n-src\n"
        "\\ No newline at end of file\n+src/../../canary\n\\ No newline at end of file\n"
    )
    sb.refused(patch, "symlink-escape")


def test_file_turned_into_an_escaping_link_with_mode_lines(sb: Sandbox) -> None:
    # git refuses a type change inside one diff ("new mode (120000) of a.txt
    # does not match old mode (100644)"); so do we, as an apply error.
    patch = (
        "diff --git a/a.txt b/a.txt\nold mode 100644\nnew mode 120000\n--- a/a.txt\n+++ b/a.txt\n"
        "@@ -1 +1 @@\n-a\n+../canary/file\n\\ No newline at end of file\n"
    )
    before = tree(sb.ws)
    assert git_apply(sb.ws, patch.encode()).returncode != 0
    assert tree(sb.ws) == before
    with pytest.raises(PatchApplyError, match="does not match old mode"):
        governed_apply(patch, sb.ws, POLICY)
    # The mode lines alone, without a hunk, as well.
    with pytest.raises(PatchApplyError, match="does not match old mode"):
        governed_apply("diff --git a/a.txt b/a.txt\nold mode 100644\nnew mode 120000\n", sb.ws, POLICY)
    sb.refused("diff --git a/a.txt b/a.txt\nold mode 100644\nnew mode 120000\n")


def test_link_turned_into_a_file_with_mode_lines_is_refused_like_git(sb: Sandbox) -> None:
    sb.link("l", "src")
    patch = (
        "diff --git a/l b/l\nold mode 120000\nnew mode 100644\n--- a/l\n+++ b/l\n@@ -1 +1 @@\n-src\n"
        "\\ No newline at end of file\n+text\n"
    )
    before = tree(sb.ws)
    assert git_apply(sb.ws, patch.encode()).returncode != 0
    assert tree(sb.ws) == before
    sb.refused(patch)


def test_type_change_as_git_writes_it_is_judged(sb: Sandbox) -> None:
    # git diff writes a type change as a deletion and a creation; allowed when
    # the new link stays inside, refused when it leaves.
    swap = delete("a.txt", "a\n")
    sb.refused(swap + symlink("a.txt", "../canary/file"), "symlink-escape")
    assert governed_apply(swap + symlink("a.txt", "src/ok.txt"), sb.ws, POLICY).ok
    assert os.readlink(sb.ws / "a.txt") == "src/ok.txt"


def test_new_link_makes_an_existing_link_escape(sb: Sandbox) -> None:
    # sub/l -> m/../../canary leads to ws/canary while sub/m is a file, a
    # folder or nothing; a new link m -> . (harmless alone) would make sub/l
    # leave the workspace.
    (sb.ws / "sub").mkdir()
    sb.link("sub/l", "m/../../canary")
    reasons = sb.refused(symlink("sub/m", "."), "symlink-escape")
    assert ("sub/l", "symlink-escape") in reasons, reasons
    (sb.ws / "sub" / "m").write_text("f\n")
    reasons = sb.refused(delete("sub/m", "f\n") + symlink("sub/m", "."), "symlink-escape")
    assert ("sub/l", "symlink-escape") in reasons, reasons


def test_kept_link_deep_in_the_tree_is_found(sb: Sandbox) -> None:
    # The scan for kept links goes down every folder (one descriptor per level).
    (sb.ws / "p" / "q" / "r").mkdir(parents=True)
    for i in range(30):
        (sb.ws / "p" / f"w{i}" / "x").mkdir(parents=True)
    sb.link("p/q/r/l", "m/../../../../canary")
    reasons = sb.refused(symlink("p/q/r/m", "."), "symlink-escape")
    assert reasons == [("p/q/r/l", "symlink-escape")], reasons
    # A link that stays inside after the patch is fine.
    assert governed_apply(symlink("p/q/r/m", "x"), sb.ws, POLICY).ok


def test_removing_a_link_can_make_a_kept_link_escape(sb: Sandbox) -> None:
    # sub/l -> m/../../../canary stays inside while sub/m -> x/y leads two
    # levels down; with sub/m gone the same text climbs out.
    (sb.ws / "sub" / "x" / "y").mkdir(parents=True)
    sb.link("sub/m", "x/y")
    sb.link("sub/l", "m/../../../canary")
    gone = (
        "diff --git a/sub/m b/sub/m\ndeleted file mode 120000\n--- a/sub/m\n+++ /dev/null\n@@ -1 +0,0 @@\n-x/y\n"
        "\\ No newline at end of file\n"
    )
    reasons = sb.refused(gone, "symlink-escape")
    assert reasons == [("sub/l", "symlink-escape")], reasons


def test_a_link_the_patch_removes_is_not_judged_as_kept(sb: Sandbox) -> None:
    (sb.ws / "sub").mkdir()
    sb.link("sub/l", "m/../../canary")
    gone = (
        "diff --git a/sub/l b/sub/l\ndeleted file mode 120000\n--- a/sub/l\n+++ /dev/null\n@@ -1 +0,0 @@\n"
        "-m/../../canary\n\\ No newline at end of file\n"
    )
    # Alone, sub/m -> . would make sub/l escape; with sub/l gone it is fine.
    assert governed_apply(gone + symlink("sub/m", "."), sb.ws, POLICY).ok
    assert not os.path.lexists(sb.ws / "sub" / "l")
    sb.canary_untouched()


def test_a_file_the_patch_writes_is_not_a_link(sb: Sandbox) -> None:
    # A new regular file whose text looks like a way out is stepped through
    # as a name, never followed as if it were a link.
    patch = new_file("notalink", "../../canary\n") + symlink("z", "notalink/../src")
    assert governed_apply(patch, sb.ws, POLICY).ok
    sb.canary_untouched()


def test_existing_hostile_link_does_not_block_unrelated_patches(sb: Sandbox) -> None:
    sb.link("up", "../canary")
    result = governed_apply("--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n", sb.ws, POLICY)
    assert result.ok and (sb.ws / "a.txt").read_text() == "A\n"
    assert governed_apply(symlink("fine", "src/ok.txt"), sb.ws, POLICY).ok
    sb.canary_untouched()


def test_link_loop_is_refused_not_followed_forever(sb: Sandbox) -> None:
    sb.refused(symlink("p", "q/x") + symlink("q", "p/y"), "symlink-escape")


def test_backslash_target_is_judged_as_windows_would_read_it_too(sb: Sandbox) -> None:
    sb.refused(symlink("w", "src\\..\\..\\canary"), "symlink-escape")


def test_non_utf8_link_targets_do_not_crash(sb: Sandbox) -> None:
    target = b"caf\xe9-\xff"
    patch = (
        b"diff --git a/nu b/nu\nnew file mode 120000\n--- /dev/null\n+++ b/nu\n@@ -0,0 +1 @@\n+"
        + target
        + b"\n\\ No newline at end of file\n"
    )
    assert governed_apply(patch, sb.ws, POLICY).ok
    assert os.readlink(os.fsencode(sb.ws / "nu")) == target
    # An existing link with such a target, judged while another link is made.
    os.symlink(b"../\xff\xfe", os.fsencode(sb.ws / "odd"))
    assert governed_apply(symlink("fine", "src"), sb.ws, POLICY).ok
    bad = patch.replace(b"+" + target, b"+../\xff/../../canary").replace(b"/nu", b"/nu2")
    sb.refused(bad, "symlink-escape")


# --- finding 4: links into and inside hook folders -------------------------------------


@pytest.fixture
def hooks(sb: Sandbox) -> Sandbox:
    (sb.ws / "scripts").mkdir()
    tool = sb.ws / "scripts" / "run.sh"
    tool.write_text("#!/bin/sh\necho pwned\n")
    os.chmod(tool, 0o755)
    (sb.ws / ".githooks").mkdir()
    (sb.ws / ".githooks" / "README").write_text("hooks\n")
    return sb


@pytest.mark.parametrize(
    "patch",
    [
        symlink(".githooks/pre-commit", "../scripts/run.sh"),
        symlink(".husky/pre-push", "../scripts/run.sh"),
        new_file("tool.sh", "#!/bin/sh\necho pwned\n", "100755") + symlink(".githooks/pre-commit", "../tool.sh"),
        symlink(".githooks/sub/x", "../../scripts/run.sh"),
        symlink("h", ".githooks"),
        symlink("h2", ".husky/pre-commit"),
    ],
    ids=["existing-exec", "husky", "new-exec", "nested", "link-to-hooks-folder", "link-into-husky"],
)
def test_links_in_or_into_hook_folders_are_refused(hooks: Sandbox, patch: str) -> None:
    reasons = hooks.refused(patch)
    assert {r for _, r in reasons} & {"exec-bit", "symlink-escape"}, reasons


def test_hook_folder_replaced_by_a_link_is_refused(hooks: Sandbox) -> None:
    patch = delete(".githooks/README", "hooks\n") + symlink(".githooks", "scripts")
    hooks.refused(patch)


# --- finding 5: the policy protects itself -----------------------------------------------


def test_workspace_config_is_protected_by_default(sb: Sandbox) -> None:
    (sb.ws / "config").mkdir()
    (sb.ws / "config" / "models.yaml").write_text("governance:\n  protected_paths: [secrets/]\n")
    edit = "--- a/config/models.yaml\n+++ b/config/models.yaml\n@@ -1,2 +1,2 @@\n governance:\n"
    edit += "-  protected_paths: [secrets/]\n+  protected_paths: []\n"
    sb.refused(edit, "protected-path", policy=GovernancePolicy())
    sb.refused(rename("config/models.yaml", "config/old.yaml"), "protected-path", policy=GovernancePolicy())
    # Nor a link made to it.
    sb.refused(symlink("cfg", "config/models.yaml"), "symlink-escape", policy=GovernancePolicy())


def test_named_config_is_protected_through_protect_config(sb: Sandbox) -> None:
    from autopack_core.patching import protect_config

    (sb.ws / "ops").mkdir()
    (sb.ws / "ops" / "autopack.yaml").write_text("governance: {}\n")
    policy = protect_config(GovernancePolicy(), sb.ws / "ops" / "autopack.yaml", sb.ws)
    sb.refused(new_file("ops/autopack.yaml.new") + rename("ops/autopack.yaml", "gone.yaml"), None, policy)
    reasons = sb.refused(delete("ops/autopack.yaml", "governance: {}\n"), "protected-path", policy)
    assert reasons == [("ops/autopack.yaml", "protected-path")]
    # A config outside the workspace adds nothing (the patch cannot reach it anyway).
    assert protect_config(GovernancePolicy(), sb.canary / "x.yaml", sb.ws) == protect_config(
        GovernancePolicy(), None, sb.ws
    )


# --- the core entry point takes parsed edits ----------------------------------------------


def test_governed_apply_takes_parsed_edits(sb: Sandbox) -> None:
    edits = parse_reply("--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n")
    result = governed_apply(edits, sb.ws, POLICY)
    assert result.files == ("a.txt",) and (sb.ws / "a.txt").read_text() == "A\n"


def test_cli_protects_the_config_it_was_given(sb: Sandbox, tmp_path: Path) -> None:
    import subprocess
    import sys

    (sb.ws / "ops").mkdir()
    cfg = sb.ws / "ops" / "autopack.yaml"
    cfg.write_text("governance:\n  protected_paths: [secrets/]\n")
    patch = "--- a/ops/autopack.yaml\n+++ b/ops/autopack.yaml\n@@ -1,2 +1,2 @@\n governance:\n"
    patch += "-  protected_paths: [secrets/]\n+  protected_paths: []\n"
    autopack = str(Path(sys.executable).with_name("autopack"))
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOPACK_RAISE_ERRORS", "AUTOPACK_CONFIG")}
    before = tree(sb.ws)
    for verb in ("check", "apply"):
        r = subprocess.run(
            [autopack, "patch", verb, "-", "-w", str(sb.ws), "--config", str(cfg)],
            input=patch,
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert r.returncode == 1 and "ops/autopack.yaml: protected-path:" in r.stderr, r.stderr
    assert tree(sb.ws) == before
    sb.canary_untouched()


def test_patch_spanning_more_folders_than_the_open_file_limit(tmp_path: Path) -> None:
    # One descriptor is held per folder; a low soft limit is raised, not hit.
    script = (
        "import resource, sys\n"
        "from autopack_core.patching import governed_apply\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))\n"
        "patch = ''.join(f'--- /dev/null\\n+++ b/d{i}/e/f.txt\\n@@ -0,0 +1 @@\\n+x\\n' for i in range(200))\n"
        "r = governed_apply(patch, sys.argv[1])\n"
        "print(len(r.files))\n"
    )
    import subprocess
    import sys

    resource = pytest.importorskip("resource")
    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 1024:
        pytest.skip("hard limit of open files too low")
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "200" and (tmp_path / "d199" / "e" / "f.txt").read_text() == "x\n"
