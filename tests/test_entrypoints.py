"""The start-up entry-point scan gives importlib.metadata's answer, and --help loads neither it nor sqlite3."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autopack_core import entrypoints
from autopack_core.entrypoints import find_entry_points

GROUP = "autopack"


def as_rows(eps) -> list[tuple[str, str, str, str, str]]:
    return [(ep.name, ep.value, ep.group, ep.dist.name, ep.dist.version) for ep in eps]


def reference(paths: list[str], monkeypatch, group: str = GROUP) -> list[tuple[str, str, str, str, str]]:
    monkeypatch.setattr(sys, "path", list(paths))
    return as_rows(importlib.metadata.entry_points(group=group))


def test_the_installed_environment_gives_the_same_entry_points(monkeypatch):
    ours = as_rows(find_entry_points(GROUP))
    assert ours == reference(list(sys.path), monkeypatch)
    assert {"roles", "provider_openai", "fix_types"} <= {row[0] for row in ours}
    # The fast path answered, not the fallback.
    assert as_rows(entrypoints._scan(GROUP, list(sys.path))) == ours


def test_console_scripts_too(monkeypatch):
    ours = as_rows(find_entry_points("console_scripts"))
    assert ("autopack", "autopack_core.cli:main") in {(r[0], r[1]) for r in ours}
    assert ours == reference(list(sys.path), monkeypatch, "console_scripts")


def test_load_follows_module_and_attributes():
    ep = entrypoints.FoundEntryPoint("x", "os.path : join [extra]", GROUP, entrypoints.Dist("d", "1"))
    assert ep.load() is os.path.join
    ep = entrypoints.FoundEntryPoint("x", "autopack_core.entrypoints", GROUP, entrypoints.Dist("d", "1"))
    assert ep.load() is entrypoints


# Names that normalise alike (PEP 503) so that de-duplication is exercised.
_names = st.sampled_from(["acme", "Acme", "acme_tools", "acme-tools", "Acme.Tools", "zeta", "Zeta__x"])
_versions = st.sampled_from(["1.0", "2.0.post1", "0.1.dev3"])
_ep_line = st.tuples(
    st.sampled_from(["alpha", "beta", "Gamma", "d-1", "e.f"]),
    st.sampled_from(["mod", "pkg.mod:obj", "pkg.mod:obj.attr [extra]", "a : b"]),
).map(lambda t: f"{t[0]} = {t[1]}")
_section = st.tuples(
    st.sampled_from([GROUP, "console_scripts", "autopack.x", " autopack "]), st.lists(_ep_line, max_size=3)
)
_entry_text = st.lists(_section, max_size=3).map(
    lambda secs: "".join(
        f"[{name}]\n# a comment\n\n" + "".join(f"  {line}\n" for line in lines) for name, lines in secs
    )
)
_dist = st.fixed_dictionaries(
    {
        "name": _names,
        "version": _versions,
        "suffix": st.sampled_from([".dist-info", ".egg-info", ".DIST-INFO"]),
        "entry_points": st.none() | _entry_text,
        "metadata_file": st.sampled_from(["METADATA", "PKG-INFO"]),
        "header_case": st.booleans(),
    }
)


def _write(root: Path, dist: dict) -> None:
    stem = dist["name"] if dist["suffix"] == ".egg-info" else f"{dist['name']}-{dist['version']}"
    folder = root / (stem + dist["suffix"])
    if folder.exists():
        return
    folder.mkdir()
    name_key, version_key = ("name", "VERSION") if dist["header_case"] else ("Name", "Version")
    (folder / dist["metadata_file"]).write_text(
        f"Metadata-Version: 2.1\n{name_key}: {dist['name']}\n{version_key}: {dist['version']}\n\nName: body\n"
    )
    if dist["entry_points"] is not None:
        (folder / "entry_points.txt").write_text(dist["entry_points"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=st.lists(st.lists(_dist, max_size=4), min_size=1, max_size=3), missing=st.booleans())
def test_any_layout_of_distributions_gives_importlib_metadatas_answer(layout, missing, monkeypatch):
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, dists in enumerate(layout):
            root = Path(tmp) / f"site{i}"
            root.mkdir()
            for dist in dists:
                _write(root, dist)
            paths.append(str(root))
        if missing:
            paths.insert(1, str(Path(tmp) / "not-there"))
        for group in (GROUP, "console_scripts"):
            with monkeypatch.context() as m:
                expected = reference(paths, m, group)
            assert as_rows(find_entry_points(group, paths)) == expected
            assert as_rows(entrypoints._scan(group, paths)) == expected


def test_a_zip_on_the_path_is_read_by_importlib_metadata(tmp_path, monkeypatch):
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped-3.0.dist-info/METADATA", "Name: zipped\nVersion: 3.0\n")
        zf.writestr("zipped-3.0.dist-info/entry_points.txt", "[autopack]\nzp = zipped_mod\n")
    paths = [str(archive)]
    assert as_rows(find_entry_points(GROUP, paths)) == [("zp", "zipped_mod", GROUP, "zipped", "3.0")]
    assert as_rows(find_entry_points(GROUP, paths)) == reference(paths, monkeypatch)


def test_help_loads_neither_importlib_metadata_nor_sqlite3():
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from autopack_core.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "new = set(sys.modules) - before\n"
        "sys.stderr.write(' '.join(sorted(m for m in new if m.split('.')[0] in ('importlib', 'sqlite3', 'email'))))\n"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "Commands:" in res.stdout
    loaded = res.stderr.split()
    assert not [m for m in loaded if m.startswith(("importlib.metadata", "sqlite3", "email"))], loaded
