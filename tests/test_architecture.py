"""The import graph: one straight path from audio to answer, the cache off it, and no cycles."""

import ast
import subprocess
import sys
from pathlib import Path

import instrid

PACKAGE = Path(instrid.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """instrid module -> the instrid modules it imports (at any level, lazily or not; not under TYPE_CHECKING)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # drop `if TYPE_CHECKING:` blocks: they never run
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                node.body = []
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package.rsplit(".", node.level - 1)[0] if node.level else ""
                target = ".".join(x for x in (base, node.module) if x) if node.level else node.module or ""
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if candidate in modules else target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_the_networks_and_the_windows_do_not_import_the_cache():
    graph = import_graph()
    for name, imports in graph.items():
        if name.startswith(("instrid.models", "instrid.windows", "instrid.features", "instrid.scorer", "instrid.predict")):
            assert "instrid.store" not in imports and "instrid.dataset" not in imports, (name, imports)


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(name, path):
        state[name] = 1
        for dep in graph[name]:
            if dep.startswith(name + "."):  # a package importing its own submodules (__init__) is not a cycle
                continue
            if state.get(dep) == 1:
                raise AssertionError(" -> ".join([*path, dep]))
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_predicting_loads_neither_the_cache_nor_the_splits():
    code = "import sys; import instrid.predict, instrid.serve; print(sorted(m for m in sys.modules if m.startswith('instrid')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "instrid.store" not in loaded and "instrid.dataset" not in loaded and "instrid.data'" not in loaded, loaded
