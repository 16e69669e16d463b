"""Fail when a public function in calc/ has no docstring (the demo's lint check)."""

import ast
import pathlib
import sys

problems = []
for path in sorted(pathlib.Path("calc").glob("*.py")):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and ast.get_docstring(node) is None:
            problems.append(f"{path}:{node.lineno}: {node.name}: public function without a docstring")
print("\n".join(problems) or "all public functions have docstrings")
sys.exit(1 if problems else 0)
