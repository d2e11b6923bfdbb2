"""The package's import graph keeps the layers of DESIGN.md: no module imports a module that imports it
(directly or around a circle), the pure layers never reach into the I/O layers, and the API layer
never touches the HTTP client's own types."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "provider_proxy"
PURE = frozenset({"conversion", "config", "providers", "models", "utils"})
IO = frozenset({"api", "services", "dashboard", "cli"})


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["provider_proxy", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(module: str, path: Path) -> Iterator[str]:
    """The package's modules that `module` imports (function-level imports included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                yield name


GRAPH = {module: set(_imported(module, path)) for module, path in MODULES.items()}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


def test_no_module_imports_itself_through_a_circle() -> None:
    circles = []
    for start in GRAPH:
        seen: set[str] = set()
        stack = list(GRAPH[start])
        while stack:
            module = stack.pop()
            if module == start:
                circles.append(start)
                break
            if module not in seen:
                seen.add(module)
                stack.extend(GRAPH[module])
    assert circles == []


def test_pure_layers_import_nothing_from_the_io_layers() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(module) in PURE and _layer(target) in IO
    )
    assert upward == []


def test_the_api_layer_never_imports_the_http_client() -> None:
    leaks = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(module) == "api" and target == "provider_proxy.services.http1"
    )
    assert leaks == []


def test_the_walker_sees_the_package() -> None:
    # Guards the tests above against passing on an empty or misread graph.
    assert "provider_proxy.conversion.request" in GRAPH
    assert "provider_proxy.config.provider" in GRAPH["provider_proxy.conversion.request"]
    assert "provider_proxy.services.http1" in GRAPH["provider_proxy.services.upstream"]
