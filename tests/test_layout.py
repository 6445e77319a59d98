"""The package's architecture as a test: imports point down, no cycles, short modules.

Layers: `cli` → workflows (`training`, `embedding`, `fewshot`, `bench`, `export`) →
`models` / `data` → `layers`. The graph is read with `ast` from the source
(imports inside functions count: a lazy import is still a dependency), so
these tests need no backend and fail on the line that breaks the rule.
"""

import ast
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "astromer"
WORKFLOWS = ("astromer.training", "astromer.embedding", "astromer.fewshot", "astromer.bench", "astromer.export",
             "astromer.cli")

# `from astromer.models.embedder import Embedder` is what users wrote before the
# embedder moved to `astromer.embedding`; the old module is a one-line alias
# kept for them, and it is the only module under models/ allowed to point up.
COMPATIBILITY_ALIASES = {"astromer.models.embedder"}

MAX_LINES = 400
# A module may pass MAX_LINES only if its docstring says which single concept
# needs the length, with this phrase.
LONG_MODULE_MARK = "one concept needs"


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules():
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path, known, name=None):
    """(line, imported module) for every astromer import in the file, at any depth.

    `from astromer.x import y` is an import of `astromer.x.y` when that is a
    module, else of `astromer.x` (y is a name defined there). `name` is the
    file's module name (by default from its place in the package).
    """
    name = name or module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "astromer":
                    found.append((node.lineno, alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "astromer":
                continue
            for alias in node.names:
                child = f"{source}.{alias.name}"
                found.append((node.lineno, child if child in known else source))
    return found


def graph():
    known = modules()
    return {name: imports(path, known) for name, path in known.items()}, known


def within(module, *prefixes):
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def violations(rule_from, forbidden):
    edges, known = graph()
    bad = []
    for source, targets in edges.items():
        if not within(source, *rule_from) or source in COMPATIBILITY_ALIASES:
            continue
        for line, target in targets:
            if within(target, *forbidden):
                bad.append(f"{known[source].relative_to(PACKAGE.parent)}:{line} imports {target}")
    return bad


def test_graph_reader_sees_lazy_relative_and_from_imports(tmp_path):
    # The rules below are only as good as the reader: check it on a file with
    # every import form we use.
    source = (
        "import astromer.data.windows\n"
        "from astromer import training\n"
        "from astromer.models.pretrainer import Pretrainer\n"
        "def f():\n"
        "    from .heads import ReconstructionHead\n"
        "    import numpy\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    known = {"astromer.training": None, "astromer.layers.heads": None}
    found = [target for _, target in imports(path, known, name="astromer.layers.probe")]
    assert found == ["astromer.data.windows", "astromer.training", "astromer.models.pretrainer",
                     "astromer.layers.heads"]


def test_layers_import_no_model_data_or_workflow():
    assert violations(["astromer.layers"], ["astromer.models", "astromer.data", *WORKFLOWS]) == []


def test_models_import_no_data_or_workflow():
    assert violations(["astromer.models"], ["astromer.data", *WORKFLOWS]) == []


def test_compatibility_aliases_are_only_aliases():
    # An exempt module may re-export names and nothing else: no function, no
    # class, no logic that would grow back below the workflows.
    known = modules()
    for name in COMPATIBILITY_ALIASES:
        tree = ast.parse(known[name].read_text())
        kinds = {type(node).__name__ for node in tree.body} - {"Expr", "ImportFrom", "Import", "Assign"}
        assert kinds == set(), f"{name} holds {kinds}"


def test_data_imports_no_model_or_workflow():
    assert violations(["astromer.data"], ["astromer.models", "astromer.layers", *WORKFLOWS]) == []


def test_workflows_do_not_import_the_cli():
    assert violations([w for w in WORKFLOWS if w != "astromer.cli"], ["astromer.cli"]) == []


def find_cycles(edges):
    """Tarjan's strongly connected components: every component of two or more
    modules (or a module importing itself) is a cycle."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for _, target in edges.get(node, []):
            if target not in edges:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or any(t == node for _, t in edges[node]):
                cycles.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return cycles


def test_cycle_finder_finds_cycles():
    # The cycle test must be able to fail: a two-module cycle, a self-import,
    # and a chain without a cycle.
    fake = {"a": [(1, "b")], "b": [(1, "a")], "c": [(1, "c")], "d": [(1, "a")], "e": []}
    assert sorted(find_cycles(fake)) == [["a", "b"], ["c"]]


def test_no_import_cycles():
    edges, _ = graph()
    assert find_cycles(edges) == []


def test_modules_are_short_or_say_why():
    long = []
    for name, path in modules().items():
        lines = path.read_text().count("\n")
        if lines > MAX_LINES:
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            if LONG_MODULE_MARK not in doc:
                long.append(f"{path.relative_to(PACKAGE.parent)}: {lines} lines")
    assert long == []


def test_cli_modules_only_parse_and_call():
    # A command module holds its parser and main(); the work lives in a
    # workflow, so the CLI reaches models and data only through one.
    assert violations(["astromer.cli"], ["astromer.models", "astromer.data", "astromer.layers"]) == []
