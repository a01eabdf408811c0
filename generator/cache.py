"""Fingerprints and reasons: what makes a result fresh or stale (the result folders themselves are in store.py)."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from generator.files import write_atomic


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same value always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache
def sha256_file(path: Path) -> str:
    return sha256_bytes(Path(path).read_bytes())


# ---------------------------------------------------------------- code closure


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, without visiting expressions (imports are statements)."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                yield from _statements(inner)


class ParseMemo:
    """What parsing a source file tells (its imports, its hash without the spec), kept on disk by the file's
    SHA-256, so a no-op build parses nothing: the same bytes always parse the same."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.entries: dict[str, Any] = {}
        self.dirty = False

    def load(self, path: Path) -> None:
        self.path, self.dirty = path, False
        try:
            self.entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}

    def get(self, kind: str, source: Path, compute: Any) -> Any:
        key = f"{kind}:{sha256_file(source)}"
        if key not in self.entries:
            self.entries[key], self.dirty = compute(), True
        return self.entries[key]

    def save(self) -> None:
        """Keep the memo for the next run; one that cannot be written only costs parsing next time."""
        if self.path is None or not self.dirty:
            return
        try:
            write_atomic(self.path, json.dumps(self.entries, sort_keys=True).encode())
        except OSError:
            return
        self.dirty = False


PARSE_MEMO = ParseMemo()


@cache
def _imported_modules(path: Path) -> frozenset[str]:
    """Every module name an `import` statement in the file names, at any depth (static, no import)."""
    return frozenset(PARSE_MEMO.get("imports", path, lambda: sorted(_scan_imports(path))))


def _scan_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    names: set[str] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@cache
def _module_file(root: Path, name: str) -> Path | None:
    parts = name.split(".")
    candidate = root.joinpath(*parts)
    if candidate.with_suffix(".py").is_file():
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").is_file():
        return candidate / "__init__.py"
    return None


@cache
def _code_hash_without_spec(path: Path) -> str:
    """The section module's hash leaving out `SECTION = ...`: the spec is fingerprinted field by field."""
    return PARSE_MEMO.get("without-spec", path, lambda: _hash_without_spec(path))


def _hash_without_spec(path: Path) -> str:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    tree.body = [
        node for node in tree.body
        if not (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SECTION" for t in node.targets))
    ]
    return sha256_bytes(ast.unparse(tree).encode())


@cache
def _project_imports(root: Path, path: Path, packages: tuple[str, ...]) -> tuple[Path, ...]:
    """The project files that importing `path` runs directly (`import a.b.c` runs a/__init__, a/b/__init__, a/b/c)."""
    found: dict[Path, None] = {}
    for name in sorted(_imported_modules(path)):
        parts = name.split(".")
        if parts[0] not in packages:
            continue
        for depth in range(1, len(parts) + 1):
            module = _module_file(root, ".".join(parts[:depth]))
            if module is not None:
                found[module] = None
    return tuple(found)


def code_closure(root: Path, module_path: Path, packages: tuple[str, ...]) -> dict[str, str]:
    """The section module and every project module it imports, transitively: {relative path: sha256}."""
    root = root.resolve()
    module_path = module_path.resolve()
    seen: dict[str, str] = {}
    pending = [module_path]
    while pending:
        path = pending.pop()
        rel = path.relative_to(root).as_posix()
        if rel in seen:
            continue
        seen[rel] = _code_hash_without_spec(path) if path == module_path else sha256_file(path)
        pending.extend(_project_imports(root, path, packages))
    return dict(sorted(seen.items()))


# ---------------------------------------------------------------- reasons


def _diff(prefix: str, old: Any, new: Any) -> Iterator[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                yield f"{name}: added {_short(new[key])}"
            elif key not in new:
                yield f"{name}: removed"
            else:
                yield from _diff(name, old[key], new[key])
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and len(old) > 1:
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _diff(f"{prefix}[{i}]", a, b)
    elif old != new:
        yield f"{prefix}: {_short(old)} → {_short(new)}"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=_jsonable)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stale_reasons(recorded: dict, current: dict) -> list[str]:
    """One reason per changed input: `params.sigma: 2.0 → 3.0`, `code: generator/x.py`, `upstream: 2.3`."""
    reasons = list(_diff("", recorded.get("spec", {}), current["spec"]))
    old_code, new_code = recorded.get("code", {}), current["code"]
    for path in sorted(set(old_code) | set(new_code)):
        if old_code.get(path) != new_code.get(path):
            change = "" if path in old_code and path in new_code else (" (new)" if path in new_code else " (gone)")
            reasons.append(f"code: {path}{change}")
    if recorded.get("backend") != current["backend"]:
        reasons.extend(f"backend {r}" for r in _diff("", recorded.get("backend", {}), current["backend"]))
    old_up, new_up = recorded.get("upstream", {}), current["upstream"]
    for key in sorted(set(old_up) | set(new_up)):
        if old_up.get(key) != new_up.get(key):
            reasons.append(f"upstream: {key.split('/')[0]}")
    return reasons
