"""Layout rules: the engine never imports the plugins, and nothing installs as bare `plugins`."""

from __future__ import annotations

import ast
import subprocess
import tomllib
import sys
from importlib.metadata import distribution, entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_never_imports_plugins():
    for path in (ROOT / "autopack_core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"plugins", "autopack_plugins"}, f"{path} imports {name}"


def test_no_bare_plugins_top_level_import(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util as u; print(u.find_spec('plugins'), u.find_spec('autopack_plugins') is not None)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert res.stdout.split() == ["None", "True"]


def test_builtin_plugins_are_entry_points_of_the_autopack_distribution():
    eps = {ep.name: ep for ep in entry_points(group="autopack")}
    for name in ("quality_checks", "health_checks"):
        assert eps[name].value.startswith("autopack_plugins.")
        assert eps[name].dist.name == "autopack"
    assert (
        distribution("autopack").entry_points.select(group="console_scripts")["autopack"].value
        == "autopack_core.cli:main"
    )


def test_top_level_layout():
    for name in (
        "setup.cfg",
        "pyproject.toml",
        "autopack_core",
        "plugins",
        "config",
        "tests",
        "scripts",
        "README.md",
        "docs",
        ".ci/run",
    ):
        assert (ROOT / name).exists(), name


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from autopack_core.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('aiohttp', 'dulwich', 'rich', 'ruamel', 'sqlite_utils', 'transitions', "
        "'cattrs', 'hypothesis') if m in sys.modules)\n"
        "print(','.join(heavy), file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.stderr.strip() == ""


def test_every_subpackage_is_listed_in_pyproject():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(data["tool"]["setuptools"]["packages"])
    for init in (ROOT / "autopack_core").rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(ROOT).parts)
        assert name in listed, f"{name} is not in [tool.setuptools] packages: a wheel would leave it out"


def test_every_data_file_is_package_data_of_a_listed_package():
    # A wheel carries a non-Python file only if it matches a package-data glob
    # of the package whose folder holds it, and that package is listed.
    import fnmatch

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = data["tool"]["setuptools"]
    dirs = {"autopack_core": ROOT / "autopack_core", **{k: ROOT / v for k, v in tool["package-dir"].items()}}

    def folder(package: str) -> Path:
        top, *rest = package.split(".")
        return dirs[top].joinpath(*rest)

    by_folder = {folder(p): p for p in tool["packages"]}
    files = [
        f
        for top in dirs.values()
        for f in top.rglob("*")
        if f.is_file() and f.suffix not in {".py", ".pyc"} and "__pycache__" not in f.parts
    ]
    assert {f.name for f in files} >= {"models.yaml", "cassette.yaml", "project.yaml", "builder.txt"}
    for f in files:
        package = by_folder.get(f.parent)
        assert package is not None, f"{f.relative_to(ROOT)}: its folder is not a listed package"
        globs = tool["package-data"].get(package, [])
        assert any(fnmatch.fnmatch(f.name, g) for g in globs), f"{f.relative_to(ROOT)}: not in {package}'s package data"


def test_every_provider_plugin_has_an_entry_point():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    eps = data["project"]["entry-points"]["autopack"]
    for module in (ROOT / "plugins").glob("provider_*.py"):
        assert eps.get(module.stem) == f"autopack_plugins.{module.stem}"


def test_the_builtin_pytest_check_needs_no_extra():
    # `pip install -e . && autopack demo` (the README's main job) runs the demo's
    # pytest check with Autopack's own interpreter: pytest must come with a plain install.
    from importlib.metadata import requires

    plain = [r for r in requires("autopack") or [] if "extra ==" not in r]
    assert any(r.replace(" ", "").startswith("pytest>=") for r in plain), plain
