"""Parsing Builder replies into file edits."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack_core.errors import PatchError, PatchParseError
from autopack_core.patching import governed_apply, parse_reply
from autopack_core.patching.apply import format_of
from autopack_core.patching.parse import MODE_EXEC, MODE_FILE, MODE_LINK

GIT_DIFF = b"""\
diff --git a/src/app.py b/src/app.py
index 83db48f..bf269f4 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,3 +1,3 @@
 import os
-x = 1
+x = 2
 print(x)
@@ -10,2 +10,3 @@ def main():
 a
 b
+c
"""


def test_git_diff_with_two_hunks() -> None:
    [e] = parse_reply(GIT_DIFF)
    assert (e.old_path, e.new_path) == ("src/app.py", "src/app.py")
    assert e.old_mode == MODE_FILE and e.new_mode == MODE_FILE
    assert [(h.old_start, h.old_count, h.new_start, h.new_count) for h in e.hunks] == [
        (1, 3, 1, 3),
        (10, 2, 10, 3),
    ]
    assert e.hunks[0].lines == (
        (" ", b"import os\n"),
        ("-", b"x = 1\n"),
        ("+", b"x = 2\n"),
        (" ", b"print(x)\n"),
    )
    assert format_of([e]) == "diff"


def test_fenced_diff_in_prose_and_plain_headers() -> None:
    reply = (
        "Here is the fix. It changes --- the value.\n\n"
        "```diff\n"
        "--- a/README.md\n"
        "+++ b/README.md\n"
        "@@ -1 +1 @@\n"
        "-Hello\n"
        "+Hello, world\n"
        "```\n\n"
        "And a second file:\n"
        "```\n"
        "--- notes.txt\t2024-01-01 10:00:00\n"
        "+++ notes.txt\t2024-01-02 10:00:00\n"
        "@@ -1,2 +1 @@\n"
        " keep\n"
        "-drop\n"
        "```\n"
        "Let me know!\n"
    )
    a, b = parse_reply(reply)
    assert a.path == "README.md" and a.hunks[0].lines[-1] == ("+", b"Hello, world\n")
    assert b.path == "notes.txt" and b.hunks[0].old_count == 2 and b.hunks[0].new_count == 1


def test_new_deleted_renamed_and_mode_changes() -> None:
    reply = b"""\
diff --git a/new.sh b/new.sh
new file mode 100755
index 0000000..e69de29
--- /dev/null
+++ b/new.sh
@@ -0,0 +1 @@
+echo hi
diff --git a/gone.txt b/gone.txt
deleted file mode 100644
index 3b18e51..0000000
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/old name.txt b/new name.txt
similarity index 100%
rename from old name.txt
rename to new name.txt
diff --git a/tool b/tool
old mode 100644
new mode 100755
diff --git a/empty b/empty
new file mode 100644
index 0000000..e69de29
diff --git a/link b/link
new file mode 120000
--- /dev/null
+++ b/link
@@ -0,0 +1 @@
+target
\\ No newline at end of file
"""
    new, gone, moved, tool, empty, link = parse_reply(reply)
    assert new.is_new and new.new_mode == MODE_EXEC and new.path == "new.sh"
    assert gone.is_delete and gone.old_path == "gone.txt" and gone.new_path is None
    assert moved.is_rename and (moved.old_path, moved.new_path) == ("old name.txt", "new name.txt") and not moved.hunks
    assert (tool.old_mode, tool.new_mode) == (MODE_FILE, MODE_EXEC)
    assert empty.is_new and not empty.hunks
    assert link.new_mode == MODE_LINK and link.hunks[0].lines == (("+", b"target"),)


def test_quoted_names_and_crlf_lines_survive() -> None:
    reply = (
        b'diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"\n'
        b'--- "a/caf\\303\\251.txt"\n'
        b'+++ "b/caf\\303\\251.txt"\n'
        b"@@ -1,2 +1,2 @@\n"
        b" one\r\n"
        b"-two\r\n"
        b"+TWO\r\n"
    )
    [e] = parse_reply(reply)
    assert e.path == "café.txt"
    assert e.hunks[0].lines == ((" ", b"one\r\n"), ("-", b"two\r\n"), ("+", b"TWO\r\n"))


def test_no_newline_marker_removes_only_the_newline() -> None:
    reply = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\r\n\\ No newline at end of file\n+y\n"
    [e] = parse_reply(reply)
    assert e.hunks[0].lines == (("-", b"x\r"), ("+", b"y\n"))


def test_search_replace_blocks_grouped_per_file() -> None:
    reply = """I'll update two places.

src/calc.py
```python
<<<<<<< SEARCH
def add(a, b):
    return a - b
=======
def add(a, b):
    return a + b
>>>>>>> REPLACE
```

src/calc.py
```python
<<<<<<< SEARCH
VERSION = 1
=======
VERSION = 2
>>>>>>> REPLACE
```

**docs/new.md**
<<<<<<< SEARCH
=======
# New
>>>>>>> REPLACE
"""
    calc, doc = parse_reply(reply)
    assert calc.path == "src/calc.py" and format_of([calc]) == "search-replace"
    assert [b.index for b in calc.blocks] == [1, 2]
    assert calc.blocks[0].search == b"def add(a, b):\n    return a - b\n"
    assert calc.blocks[1].replace == b"VERSION = 2\n"
    assert doc.path == "docs/new.md" and doc.blocks[0].search == b"" and doc.blocks[0].replace == b"# New\n"


def test_reply_without_edits_is_classified() -> None:
    with pytest.raises(PatchParseError) as ei:
        parse_reply("I think the code is fine as it is.\n--- not a diff\n")
    assert ei.value.kind == "no-edits"


def test_broken_hunk_header_names_file_and_hunk() -> None:
    reply = "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-a\n+b\n@@ -x,2 +3 @@\n a\n"
    with pytest.raises(PatchParseError) as ei:
        parse_reply(reply)
    assert ei.value.kind == "bad-hunk-header"
    assert (ei.value.path, ei.value.hunk) == ("f.txt", 2)
    assert "f.txt: hunk 2" in str(ei.value)


@pytest.mark.parametrize(
    "body",
    [
        " a\n-b\n+c\n",  # header promises 3 old lines, only 2 given
        " a\n-b\n-c\n-d\n+c\n",  # one old line too many runs into garbage
    ],
)
def test_count_mismatch_names_file_and_hunk(body: str) -> None:
    reply = "--- a/g.txt\n+++ b/g.txt\n@@ -1,3 +1,2 @@\n" + body + "that was the diff\n"
    with pytest.raises(PatchParseError) as ei:
        parse_reply(reply)
    assert ei.value.kind == "hunk-count-mismatch"
    assert (ei.value.path, ei.value.hunk) == ("g.txt", 1)


def test_unterminated_search_block() -> None:
    with pytest.raises(PatchParseError) as ei:
        parse_reply("a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n")
    assert ei.value.kind == "unterminated-block" and ei.value.path == "a.py"


def test_hunk_without_file_header() -> None:
    with pytest.raises(PatchParseError) as ei:
        parse_reply("@@ -1 +1 @@\n-a\n+b\n")
    assert ei.value.kind == "bad-header"


def test_empty_context_line_without_leading_space() -> None:
    [e] = parse_reply("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n")
    assert e.hunks[0].lines == ((" ", b"a\n"), (" ", b"\n"), ("-", b"b\n"), ("+", b"c\n"))


_TOKENS = st.sampled_from(
    [
        "diff --git a/f b/f\n",
        "diff --git a/f b/g\n",
        'diff --git "a/q" "b/q"\n',
        "--- a/f\n",
        "+++ b/f\n",
        "--- /dev/null\n",
        "+++ /dev/null\n",
        "@@ -1 +1 @@\n",
        "@@ -1,2 +1,2 @@\n",
        "@@ -0,0 +1 @@\n",
        "@@ -x @@\n",
        " ctx\n",
        "-old\n",
        "+new\n",
        "\\ No newline at end of file\n",
        "\n",
        "new file mode 100644\n",
        "deleted file mode 100644\n",
        "old mode 100644\n",
        "new mode 100755\n",
        "rename from f\n",
        "rename to g\n",
        "index 0000000..1111111 100644\n",
        "GIT binary patch\n",
        "literal 3\n",
        "delta 9\n",
        "Kcm\n",
        "Binary files a/f and b/f differ\n",
        "f\n",
        "<<<<<<< SEARCH\n",
        "=======\n",
        ">>>>>>> REPLACE\n",
        "```diff\n",
        "```\n",
        "prose\n",
        "\r\n",
        "\x00",
        "old mode 9\n",
        'copy from "a\n',
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=25))
def test_any_reply_parses_or_raises_a_classified_error(tokens: list[str]) -> None:
    try:
        edits = parse_reply("".join(tokens))
    except PatchParseError as exc:
        assert exc.kind in {
            "no-edits",
            "bad-header",
            "bad-hunk-header",
            "hunk-count-mismatch",
            "unterminated-block",
        }
        return
    assert edits


@settings(max_examples=200, deadline=None)
@given(st.lists(_TOKENS, max_size=25))
def test_any_reply_applies_or_raises_a_patch_error(tokens: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "f").write_text("ctx\nold\n")
        try:
            governed_apply("".join(tokens), tmp)
        except PatchError:
            pass
