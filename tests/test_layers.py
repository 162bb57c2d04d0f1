"""The package's layers, read from its source with ``ast``: no import cycle among vocablab's modules
(function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vocablab"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The vocablab modules a module imports anywhere in its body (``from vocablab import x`` counts
    as importing ``vocablab.x`` when that is a module, else ``vocablab`` itself)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imported(path, name, set(found)) for name, path in found.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every back edge a depth-first search meets, as the cycle it closes (a plain DFS, colouring nodes)."""
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_a_hand_made_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_graph_sees_function_level_and_package_imports():
    graph = import_graph()
    assert "vocablab.errors" in graph["vocablab.vocab"]  # a top-level import
    assert "vocablab.surgery.engine" in graph["vocablab.evaluate"]  # one inside a function


def test_no_import_cycle_among_vocablab_modules():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def defined_names(path: Path) -> set[str]:
    """Names a module defines at its top level (functions, classes, assignments)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_the_package_is_a_plain_module_whose_public_names_are_defined_where_it_says():
    import types

    import vocablab

    assert type(vocablab) is types.ModuleType  # no module-class swap
    found = modules()
    for name in vocablab.__all__:
        home = vocablab._HOME[name]
        assert name in defined_names(found[home]), f"{name} is not defined in {home}"
    assert "transplant" in vocablab.__all__ and "vocablab.transplant" not in found  # one thing per name


MAX_FUNCTION_LINES = 80


def lengths_in(source: str) -> dict[str, int]:
    """Lines of every function and method in ``source``, from its ``def`` to its last line."""
    return {
        node.name: node.end_lineno - node.lineno + 1
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def function_lengths() -> dict[str, int]:
    return {f"{name}:{f}": n for name, path in modules().items() for f, n in lengths_in(path.read_text()).items()}


def test_the_length_counter_counts_hand_made_functions():
    source = "def short():\n    return 1\n\n\nclass A:\n    def longer(self, x):\n" + "        x += 1\n" * 5
    assert lengths_in(source + "        return x\n") == {"short": 2, "longer": 7}


def test_no_function_is_over_80_lines():
    lengths = function_lengths()
    long = {name: n for name, n in lengths.items() if n > MAX_FUNCTION_LINES}
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"
