"""The shape of the code: every function over 50 lines and every file over 400 lines in generator/ and sections/.

Usage: .venv/bin/python bench/code_shape.py [--function-lines 50] [--file-lines 400] [folders...]
A function's length is its physical lines, from its `def` line (decorators not counted) to its last line, docstring
and comments included; a nested function counts inside its parent as well as on its own. Exits 1 when anything is over.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def functions(tree: ast.AST) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method in `tree` with its qualified name (`Class.method`, `outer.inner`)."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield prefix + child.name, child
                yield from walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def violations(paths: list[Path], function_lines: int, file_lines: int) -> list[str]:
    found = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT).as_posix()
        lines = len(text.splitlines())
        if lines > file_lines:
            found.append(f"{name}: file of {lines} lines")
        for qualname, node in functions(ast.parse(text, filename=name)):
            length = node.end_lineno - node.lineno + 1
            if length > function_lines:
                found.append(f"{name}:{node.lineno}: {qualname}() is {length} lines")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--function-lines", type=int, default=50)
    parser.add_argument("--file-lines", type=int, default=400)
    parser.add_argument("folders", nargs="*", default=["generator", "sections"])
    options = parser.parse_args()
    paths = sorted(p for folder in options.folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)
    found = violations(paths, options.function_lines, options.file_lines)
    for line in found:
        print(line)
    print(f"{len(found)} over the limits ({options.function_lines} lines a function, {options.file_lines} a file) in {len(paths)} files")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
