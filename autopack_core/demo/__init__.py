"""The bundled demo: a small Python project with a failing test, its plan and its cassette.

``project.yaml`` holds the project's files (path -> content): a ``calc``
package whose ``median()`` is wrong for even lengths, its tests, a docstring
lint script, ``plan.yaml``, ``config/models.yaml`` and the cassette
``config/demo-cassette.yaml``. ``prepare_demo`` writes them into a fresh
folder and makes it a git repository with one commit (dulwich; no hooks, no
signing), so ``autopack demo`` needs neither git nor a network.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from autopack_core.errors import AutopackError

PROJECT = Path(__file__).parent / "project.yaml"
DEMO_AUTHOR = b"Autopack Demo <demo@autopack.invalid>"


def prepare_demo(directory: Path | None) -> tuple[Path, Path, Path]:
    """Create the demo workspace; returns (workspace, plan file, config file)."""
    from dulwich import porcelain

    if directory is None:
        target = Path(tempfile.mkdtemp(prefix="autopack-demo-")) / "calc"
    else:
        target = directory.resolve()
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise AutopackError(f"{directory}: exists and is not an empty folder; pick a new one with --dir")
    from ruamel.yaml import YAML

    files = YAML(typ="safe").load(PROJECT.read_text(encoding="utf-8"))["files"]
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (target / ".gitignore").write_text("__pycache__/\n.pytest_cache/\n")
    repo = porcelain.init(str(target))
    try:
        paths = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file() and ".git" not in p.parts)
        porcelain.add(repo, [str(target / p) for p in paths])
        porcelain.commit(
            repo,
            message=b"calc: the demo project",
            author=DEMO_AUTHOR,
            committer=DEMO_AUTHOR,
            no_verify=True,
            sign=False,
        )
    finally:
        repo.close()
    return target, target / "plan.yaml", target / "config" / "models.yaml"
