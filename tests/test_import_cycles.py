"""No import cycles among gansweep's modules (issue 22 found spec -> space -> optuna_search -> spec).

Every import that runs counts, at module level or inside a function (a lazy import still ties the
two modules together); imports under `if TYPE_CHECKING:` are annotations only and do not count.
An edge goes to the module an import names (`from a.b import c` -> `a.b.c` if that is a module,
else `a.b`).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestrator", "trainers")


def module_files(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[0] in PACKAGES:
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def runtime_imports(source: str, modules: set[str], own: str) -> set[str]:
    """The modules in `modules` that `source` imports when it runs."""
    tree = ast.parse(source)
    typing_only = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {resolve(f"{node.module}.{a.name}") for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {resolve(a.name) for a in node.names}
    return {m for m in found if m and m != own}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def import_graph(root: Path) -> dict[str, set[str]]:
    files = module_files(root)
    return {m: runtime_imports(p.read_text(), set(files), m) for m, p in files.items()}


def test_the_checker_sees_lazy_imports_and_skips_typing_ones() -> None:
    modules = {"orchestrator.a", "orchestrator.b"}
    lazy = "def f():\n    from orchestrator.b import g\n"
    typing = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from orchestrator.b import g\n"
    assert runtime_imports(lazy, modules, "orchestrator.a") == {"orchestrator.b"}
    assert runtime_imports(typing, modules, "orchestrator.a") == set()
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(import_graph(REPO)) == []
