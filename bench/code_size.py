"""Lines of CifarApp and Run, and the longest functions of cifar_tui.

    python bench/code_size.py [PACKAGE_DIR]   (default: this checkout's cifar_tui)

Counted with ``ast``: a class or function is the lines from its ``class``/``def`` line to its
last line (``end_lineno - lineno + 1``: docstring, comments and blank lines inside included,
decorators not). Functions are every ``def`` (methods and nested ones too), named
``file:Class.name``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def sizes(package: Path) -> tuple[dict[str, int], list[tuple[int, str]]]:
    classes, functions = {}, []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(package)

        def walk(node: ast.AST, prefix: str, rel: Path = rel) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    classes[f"{rel}:{child.name}"] = child.end_lineno - child.lineno + 1
                    walk(child, f"{prefix}{child.name}.")
                elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    functions.append((child.end_lineno - child.lineno + 1,
                                      f"{rel}:{prefix}{child.name}"))
                    walk(child, f"{prefix}{child.name}.")
                else:
                    walk(child, prefix)

        walk(tree, "")
    return classes, sorted(functions, reverse=True)


def main() -> None:
    package = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).resolve().parents[1] / "cifar_tui"
    classes, functions = sizes(package)
    for name in ("app.py:CifarApp", "runs.py:Run", "runs.py:RunFacts", "runs.py:RunSnapshot"):
        if name in classes:
            print(f"{name}: {classes[name]} lines")
    print("longest functions:")
    for lines, name in functions[:10]:
        print(f"  {lines:4d}  {name}")


if __name__ == "__main__":
    main()
