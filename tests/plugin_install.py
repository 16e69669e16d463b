"""Install a plugin package, as a third party ships it, into a fresh virtual environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def install_plugin_package(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    """Write the package ``name`` from ``files``, pip-install it offline into a new venv; return its python.

    Autopack itself and its dependencies come from this test's environment
    (a ``.pth`` file), so nothing is downloaded.
    """
    pkg = tmp_path / name
    pkg.mkdir()
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    site = subprocess.run(
        [str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    outer = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "outer.pth").write_text("\n".join(outer) + "\n")
    subprocess.run(
        [str(vpy), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(pkg)],
        check=True,
        capture_output=True,
    )
    return vpy
