"""The package's shape: imports point inward (tracks -> core), never in a circle, and the
commands are written over the track interface only.

Every ``import`` statement of every module counts, also those inside functions (a
lazy import is still a dependency); ``if TYPE_CHECKING:`` blocks do not.
"""

import ast
from pathlib import Path

import obliviate

PACKAGE = Path(obliviate.__file__).parent
# Written once over the track interface: they may import core, never a track.
COMMANDS = ("obliviate.bench", "obliviate.suite", "obliviate.tune", "obliviate.report", "obliviate.cli",
            "obliviate.api")
# Workflows over the track interface, held to the commands' rules (core only, no track or task named).
WORKFLOWS = ("obliviate.requests",)
# The public facades of the classifier's metrics (``obliviate.metrics``, ``obliviate.evaluate``)
# and the package root may re-export from a track; nothing inside a track may import them.


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()
WRITTEN_OVER_TRACKS = COMMANDS + tuple(m for m in MODULES if m.split(".")[:2] == ["obliviate", "requests"])


def _imports(name: str, path: Path) -> set[str]:
    """The obliviate modules ``name`` imports (a name that is a package's attribute, not
    a module, counts as the package)."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for child in node.body for n in ast.walk(child)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found |= {t for t in targets if t.split(".")[0] == "obliviate" and t != name}
    return {_module_of(t) for t in found}


def _module_of(target: str) -> str:
    while target not in MODULES:
        target = target.rpartition(".")[0]
    return target


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str:
    if any(module == w or module.startswith(w + ".") for w in WORKFLOWS):
        return "top"
    parts = module.split(".")
    if len(parts) == 1 or (len(parts) == 2 and not (PACKAGE / parts[1]).is_dir()):
        return "top"
    return "core" if parts[1] == "core" else "track"


def test_core_imports_no_track_and_no_command():
    bad = [(m, t) for m, ts in GRAPH.items() if _layer(m) == "core" for t in ts if _layer(t) != "core"]
    assert not bad, f"core must import only core: {bad}"


def test_tracks_import_only_core_and_tracks():
    bad = [(m, t) for m, ts in GRAPH.items() if _layer(m) == "track" for t in ts if _layer(t) == "top"]
    assert not bad, f"a track imports a top-level module (CLI, bench, suite, facades): {bad}"


def test_commands_are_written_over_the_track_interface():
    bad = [(m, t) for m in WRITTEN_OVER_TRACKS for t in GRAPH[m] if _layer(t) == "track"]
    assert not bad, f"a command imports a track directly instead of going through core.track: {bad}"


def test_no_track_or_task_names_in_the_commands():
    names = {t["name"] for t in obliviate.tasks()} | {t["track"] for t in obliviate.tasks()}
    bad = []
    for module in WRITTEN_OVER_TRACKS:
        for node in ast.walk(ast.parse(MODULES[module].read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                bad.append((module, node.value, node.lineno))
    assert not bad, f"commands name a track or task: {bad}"


def test_no_import_circles():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, f"import circles: {cycles}"


def test_the_checker_sees_lazy_imports_and_circles():
    # guard against a checker that finds nothing: it must see a known lazy import
    assert "obliviate.core.track" in GRAPH["obliviate.core.registry"]  # imported inside a function
    assert GRAPH["obliviate.classify.track"] >= {"obliviate.classify.bench", "obliviate.core.track"}
