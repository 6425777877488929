"""The package's import graph: every import points down the layers, and no module imports itself back."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "photochanger"

#: Lowest first. A module may import its own layer or the layers below it, never one above.
LAYERS: list[set[str]] = [
    {"config", "clock", "extensions"},
    {"models", "errors"},
    {"infra"},
    {"media", "providers"},
    {"validation", "links", "runtime", "ops"},
    {"auth"},
    {"settings"},
    {"jobs"},
    {"slots"},
    {"ingest"},
    {"integration"},
    {"admin", "public", "stats"},
    {"__init__", "startup"},
]


def _room(module: str) -> str:
    """``photochanger.slots.edit`` → ``slots``; the package itself → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    room = _room(module)
    return next(i for i, rooms in enumerate(LAYERS) if room in rooms)


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: pathlib.Path) -> set[str]:
    """Every ``photochanger`` module ``path`` imports, function-level imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("photochanger"):
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _exists(candidate) else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("photochanger"))
    return found


def _exists(module: str) -> bool:
    base = PACKAGE.parent / module.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_room_has_a_layer() -> None:
    rooms = {_room(m) for m in _graph()}
    unknown = rooms - set().union(*LAYERS)
    assert not unknown, f"rooms with no layer in LAYERS: {sorted(unknown)}"


def test_imports_only_point_down() -> None:
    upward = [
        f"{module} → {target}"
        for module, targets in _graph().items()
        for target in targets
        if _layer(target) > _layer(module)
    ]
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = _graph()
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            pytest.fail("import cycle: " + " → ".join([*trail[trail.index(module) :], module]))
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            if target != "photochanger":  # create_app's lazy imports are the composition root
                visit(target, [*trail, module])
        done.add(module)

    for module in graph:
        visit(module, [])
