"""The package's architecture as a test: imports point down, no cycles, short modules.

Tiers (docs/architecture.md): `cli` → workflows (`training`, `embedding`,
`fewshot`, `bench`, `export`) → shared tier (`core`, `distribute`, the
top-level modules) → `preprocessing` → `models` / `data` → `layers`. The graph is read with `ast` from the source
(imports inside functions count: a lazy import is still a dependency), so
these tests need no backend and fail on the line that breaks the rule.
"""

import ast
import re
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "astromer"
WORKFLOWS = ("astromer.training", "astromer.embedding", "astromer.fewshot", "astromer.bench", "astromer.export",
             "astromer.survey", "astromer.cli")

SHARED = ("astromer.core", "astromer.distribute")
LOWER = ("astromer.preprocessing", "astromer.models", "astromer.data", "astromer.layers")

MAX_LINES = 400
MAX_PARAMETERS = 8


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
        if not within(source, *rule_from):
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
    assert violations(["astromer.models"], ["astromer.data", "astromer.preprocessing", *SHARED, *WORKFLOWS]) == []


def test_preprocessing_imports_no_model_shared_tier_or_workflow():
    # A preprocessor never sees a weight: it reads light curves with data/.
    assert violations(["astromer.preprocessing"], ["astromer.models", "astromer.layers", *SHARED, *WORKFLOWS]) == []


def top_level_modules():
    return [name for name in modules() if name.count(".") == 1 and name not in
            {*WORKFLOWS, *SHARED, *LOWER}]


def test_shared_tier_imports_no_workflow():
    assert violations([*SHARED, *top_level_modules()], list(WORKFLOWS)) == []


def test_no_workflow_imports_another():
    bad = []
    for workflow in WORKFLOWS:
        if workflow != "astromer.cli":
            bad += violations([workflow], [w for w in WORKFLOWS if w not in (workflow, "astromer.cli")])
    assert bad == []


def test_only_training_and_its_command_use_the_distribution_package():
    # cli.train starts or joins the cluster before anything else (its exit code for a lost worker).
    assert violations([p for p in (*WORKFLOWS, "astromer.core") if p not in ("astromer.training", "astromer.cli")]
                      + ["astromer.cli." + m for m in ("embed", "export", "fewshot", "features", "bench", "finetune")],
                      ["astromer.distribute"]) == []


def test_data_imports_no_model_or_workflow():
    assert violations(["astromer.data"], ["astromer.models", "astromer.layers", "astromer.preprocessing", *SHARED,
                                          *WORKFLOWS]) == []


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


def test_modules_are_short():
    long = [f"{path.relative_to(PACKAGE.parent)}: {path.read_text().count(chr(10))} lines"
            for path in modules().values() if path.read_text().count("\n") > MAX_LINES]
    assert long == []


def parameter_count(function):
    """Parameters a caller can pass: positional, keyword-only, *args and
    **kwargs (one each); `self` / `cls` not counted."""
    a = function.args
    names = [p.arg for p in (*a.posonlyargs, *a.args)]
    count = len(names) + len(a.kwonlyargs) + (a.vararg is not None) + (a.kwarg is not None)
    return count - (1 if names and names[0] in ("self", "cls") else 0)


def long_signatures(source, where):
    nodes = sorted((node for node in ast.walk(ast.parse(source))
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))), key=lambda node: node.lineno)
    return [f"{where}:{node.lineno} {node.name}() takes {parameter_count(node)}"
            for node in nodes if parameter_count(node) > MAX_PARAMETERS]


def test_parameter_counter_counts_every_kind():
    # Eight is allowed, nine is not, whatever kind the ninth is.
    probe = ("def f(a, b, /, c, *d, e, f=1, **g): pass\n"
             "class K:\n    def m(self, a, b, c, d, e, f, g, h): pass\n"
             "    def n(self, a, b, c, d, e, f, g, h, i): pass\n"
             "def v(a, b, c, d, e, f, g, *x, **y): pass\n"
             "def w(a, *, b, c, d, e, f, g, h, i): pass\n")
    assert long_signatures(probe, "probe") == ["probe:4 n() takes 9", "probe:5 v() takes 9", "probe:6 w() takes 9"]


def test_workflow_and_cli_functions_take_at_most_eight_parameters():
    found = []
    for name, path in modules().items():
        if within(name, *WORKFLOWS):
            found += long_signatures(path.read_text(), path.relative_to(PACKAGE.parent))
    assert found == []


def test_cli_modules_only_parse_and_call():
    # A command module holds its parser and main(); the work lives in a
    # workflow, so the CLI reaches models and data only through one.
    assert violations(["astromer.cli"], ["astromer.models", "astromer.data", "astromer.layers"]) == []


# TensorFlow's distribution API is named in one package only: the model and
# the training loop reach it through `astromer.distribute`.
DISTRIBUTION_PACKAGE = "astromer.distribute"
TF_DISTRIBUTE = re.compile(r"\btf\.distribute\b|\btensorflow(\.python)?\.distribute\b"
                           r"|\bfrom\s+tensorflow(\.python)?\s+import\s+(\([^)]*|[^\n]*)\bdistribute\b")


def tf_distribute_lines(text):
    """The lines of `text` naming `tf.distribute`, in code, comment or docstring."""
    return [text.count("\n", 0, match.start()) + 1 for match in TF_DISTRIBUTE.finditer(text)]


def test_only_the_distribution_package_names_tf_distribute():
    # The reader must see every spelling (and not Keras' own distribution API).
    probe = ("strategy = tf.distribute.MirroredStrategy()\n"
             "from tensorflow import distribute\n"
             "from tensorflow.python.distribute import values\n"
             "import tensorflow.distribute\n"
             "from tensorflow import (\n    data,\n    distribute,\n)\n"
             "keras.distribution.set_distribution(keras.distribution.DataParallel())\n"
             "options.experimental_distribute.auto_shard_policy = OFF\n")
    assert tf_distribute_lines(probe) == [1, 2, 3, 4, 5]
    found = [f"{path.relative_to(PACKAGE.parent)}:{line}" for name, path in modules().items()
             if not within(name, DISTRIBUTION_PACKAGE) for line in tf_distribute_lines(path.read_text())]
    assert found == []
