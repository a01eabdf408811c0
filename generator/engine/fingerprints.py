"""Fingerprints and reasons: what makes a result fresh or stale (the result folders themselves are in store.py)."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from generator.disk import JsonMemo
from generator.engine.files import StatCache
from generator.engine.store import ResultKey, jsonable


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same value always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=jsonable)



def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- code closure


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, without visiting expressions (imports are statements)."""
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                yield from _statements(inner)


class ParseMemo(JsonMemo):
    """What parsing a source file tells (its imports, its hash without the spec), by the file's SHA-256, so a no-op
    build parses nothing: the same bytes always parse the same. The caller loads and saves it; planning only reads
    and adds entries, and a long-lived process (`gen serve`) sees an edited file as new bytes."""

    def get(self, kind: str, digest: str, compute: Callable[[], Any]) -> Any:
        key = f"{kind}:{digest}"
        if key not in self.entries:
            self.entries[key], self.dirty = compute(), True
        return self.entries[key]


def _scan_imports(path: Path) -> list[str]:
    """Every module name an `import` statement in the file names, at any depth (static, no import)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    names: set[str] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return sorted(names)


def module_file(root: Path, name: str) -> Path | None:
    """The project file of a dotted module name, if the project has it."""
    candidate = root.joinpath(*name.split("."))
    if candidate.with_suffix(".py").is_file():
        return candidate.with_suffix(".py")
    if (candidate / "__init__.py").is_file():
        return candidate / "__init__.py"
    return None


def _hash_without_spec(path: Path) -> str:
    """The section module's hash leaving out `SECTION = ...`: the spec is fingerprinted field by field."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    tree.body = [
        node for node in tree.body
        if not (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SECTION" for t in node.targets))
    ]
    return sha256_bytes(ast.unparse(tree).encode())


class CodeIndex:
    """Project files by content: their SHA-256 (through the stat cache), their project imports, a section's hash
    without its spec. One index serves one plan, so a file is hashed and parsed at most once per plan."""

    def __init__(self, root: Path, packages: tuple[str, ...], hashes: StatCache, parsed: ParseMemo):
        self.root, self.packages, self.hashes, self.parsed = root.resolve(), packages, hashes, parsed
        self._digests: dict[Path, str] = {}
        self._imports: dict[Path, tuple[Path, ...]] = {}
        self._files: dict[str, Path | None] = {}

    def sha256(self, path: Path) -> str:
        if path not in self._digests:
            self._digests[path] = self.hashes.sha256(path, path.stat())
        return self._digests[path]

    def imports(self, path: Path) -> tuple[Path, ...]:
        """The project files that importing `path` runs directly (`import a.b.c` runs a/__init__, a/b/__init__, a/b/c)."""
        if path not in self._imports:
            found: dict[Path, None] = {}
            for name in self.parsed.get("imports", self.sha256(path), lambda: _scan_imports(path)):
                parts = name.split(".")
                if parts[0] not in self.packages:
                    continue
                for depth in range(1, len(parts) + 1):
                    dotted = ".".join(parts[:depth])
                    if dotted not in self._files:
                        self._files[dotted] = module_file(self.root, dotted)
                    module = self._files[dotted]
                    if module is not None:
                        found[module] = None
            self._imports[path] = tuple(found)
        return self._imports[path]

    def closure(self, module_path: Path) -> dict[str, str]:
        """The section module and every project module it imports, transitively: {relative path: sha256}."""
        module_path = module_path.resolve()
        seen: dict[str, str] = {}
        pending = [module_path]
        while pending:
            path = pending.pop()
            rel = path.relative_to(self.root).as_posix()
            if rel in seen:
                continue
            seen[rel] = self.parsed.get("without-spec", self.sha256(path), lambda p=path: _hash_without_spec(p)) if path == module_path else self.sha256(path)
            pending.extend(self.imports(path))
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
    text = json.dumps(value, ensure_ascii=False, default=jsonable)
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
            reasons.append(f"upstream: {ResultKey.parse(key).section}")
    return reasons
