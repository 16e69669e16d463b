"""The executor's file read (scope files, the Auditor's before/after) returns what the file holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autopack_core.executor.loop import _CHUNK, read_bytes


@settings(max_examples=40, deadline=None)
@given(
    size=st.sampled_from([0, 1, 17, _CHUNK - 1, _CHUNK, _CHUNK + 1, 3 * _CHUNK + 5]),
    limit=st.one_of(st.none(), st.integers(min_value=0, max_value=4 * _CHUNK)),
)
def test_whole_file_or_its_first_bytes(tmp_path_factory, size: int, limit: int | None) -> None:
    path = tmp_path_factory.mktemp("read") / "f.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    assert read_bytes(str(path), limit) == (data if limit is None else data[:limit])


def test_missing_files_and_directories_are_os_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bytes(str(tmp_path / "missing"))
    with pytest.raises(NotADirectoryError):
        (tmp_path / "file").write_text("x")
        read_bytes(str(tmp_path / "file" / "below"))
    with pytest.raises(IsADirectoryError):
        read_bytes(str(tmp_path))


def test_no_descriptor_is_left_open(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("hello\n")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        assert read_bytes(str(tmp_path / "f")) == b"hello\n"
        with pytest.raises(IsADirectoryError):
            read_bytes(str(tmp_path))
    assert len(os.listdir("/proc/self/fd")) == before
