"""Guard tests: contexts import downwards only, no import circles, no private imports.

The map (top to bottom) is README's Layout; a context may import its own modules, any
context below it and the foundation modules. The composition root (settings, urls, wsgi)
may import anything. Every import counts: module level, inside functions, and under
TYPE_CHECKING, because each is a dependency someone reading the code must follow.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sekisho"

LAYERS = [
    "cli",
    "demo",
    "api",
    "console",
    "admin",
    "provisioning",
    "portal",
    "emulator",
    "saml",
    "access",
    "mfa",
    "directory",
    "web",
    "ops",
    "audit",
    "policy",
]
FOUNDATION = {
    "backup",
    "clock",
    "config",
    "crypto",
    "errors",
    "instance",
    "logs",
    "memo",
    "network",
    "rows",
    "serving",
}
COMPOSITION_ROOT = {"settings", "urls", "wsgi", "asgi", "__init__", "__main__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
    }


MODULES = _modules()


def _imports(module: str, path: Path) -> Iterator[tuple[str, str, int]]:
    """(imported module, imported name or '', line) for every sekisho import of a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sekisho"):
                    yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("sekisho"):
                continue
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    yield f"{target}.{alias.name}", "", node.lineno
                else:
                    yield target, alias.name, node.lineno


def _context(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _owner(target: str) -> str:
    """The module an imported dotted name lives in."""
    while target not in MODULES and "." in target:
        target = target.rpartition(".")[0]
    return target


def _may_import(importer: str, imported: str) -> bool:
    if importer == imported or imported in FOUNDATION:
        return True
    if importer in COMPOSITION_ROOT:
        return True
    if importer in FOUNDATION:
        return False
    if importer == "policy":
        # The policy language imports nothing from any other context.
        return imported == "errors"
    return LAYERS.index(imported) > LAYERS.index(importer)


def test_every_context_is_on_the_map() -> None:
    contexts = {_context(m) for m in MODULES}
    unknown = contexts - set(LAYERS) - FOUNDATION - COMPOSITION_ROOT
    assert not unknown, f"add these to LAYERS (and README's Layout): {sorted(unknown)}"


def test_contexts_import_downwards_only() -> None:
    wrong = []
    for module, path in MODULES.items():
        for target, _name, line in _imports(module, path):
            importer, imported = _context(module), _context(_owner(target))
            if not _may_import(importer, imported):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_the_demo_reaches_the_emulator_only_through_its_services() -> None:
    wrong = [
        f"{module}:{line} imports {target}"
        for module, path in MODULES.items()
        if _context(module) == "demo"
        for target, _name, line in _imports(module, path)
        if _context(_owner(target)) == "emulator" and _owner(target) != "sekisho.emulator.services"
    ]
    assert not wrong, "the demo must use boto3 and emulator.services, not internals:\n" + "\n".join(
        wrong
    )


def test_provisioning_never_imports_the_emulator() -> None:
    """Provisioning talks to any AWS endpoint through boto3, never to the emulator's code."""
    wrong = [
        f"{module}:{line} imports {target}"
        for module, path in MODULES.items()
        if _context(module) == "provisioning"
        for target, _name, line in _imports(module, path)
        if _context(_owner(target)) == "emulator"
    ]
    assert not wrong, "provisioning must not know the emulator:\n" + "\n".join(wrong)


def test_no_private_names_cross_modules() -> None:
    wrong = [
        f"{module}:{line} imports {target}.{name}"
        for module, path in MODULES.items()
        for target, name, line in _imports(module, path)
        if name.startswith("_") and not name.startswith("__") and _owner(target) != module
    ]
    assert not wrong, "private names imported from other modules:\n" + "\n".join(wrong)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        edges[module]
        for target, _name, _line in _imports(module, path):
            owner = _owner(target)
            if owner != module and owner in MODULES:
                edges[module].add(owner)
    assert not _cycles(edges), f"import circles: {_cycles(edges)}"


def test_the_guard_sees_a_violation() -> None:
    """The checks above would notice the kinds of dependency issue 14 removed."""
    assert not _may_import("saml", "portal")
    assert not _may_import("directory", "mfa")
    assert not _may_import("policy", "directory")
    assert not _may_import("config", "directory")
    assert _may_import("portal", "saml")
    # Metrics follow the audit trail by subscribing to it: audit never imports ops.
    assert not _may_import("audit", "ops")
    assert _may_import("web", "ops") and _may_import("emulator", "ops")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
