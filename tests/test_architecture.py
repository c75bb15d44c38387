"""The package's shape: no import circle among gladnet_tf modules, light modules stay light.

Imports are read from the source (module level and inside functions alike; a block under
``if __name__ == "__main__":`` runs only as a script, never on import, and is left out).
"""

import ast
import pathlib
import re

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "gladnet_tf"


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_main_block(node):
    test = getattr(node, "test", None)
    return (isinstance(node, ast.If) and isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name) and test.left.id == "__name__")


def imported_names(path):
    """Every module name ``path`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if _is_main_block(child):
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in child.names)
            stack.append(child)
    return names


def import_graph():
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = sorted(n for n in imported_names(path) if n in modules and n != name)
    return graph


def find_cycle(graph):
    """One import circle as a list of modules, or None."""
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, trail + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_no_import_circle_among_package_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_guard_sees_a_circle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None


@pytest.mark.parametrize("module", ["gladnet_tf.checkpoints", "gladnet_tf.config",
                                    "gladnet_tf.run_folder", "gladnet_tf.session",
                                    "gladnet_tf.progress", "gladnet_tf.atomic",
                                    "gladnet_tf.averaging"])
def test_light_modules_import_neither_tensorflow_nor_keras(module):
    """Transitively: what these modules import (within the package) never pulls in TF/Keras."""
    graph = import_graph()
    # The package's __init__ installs the quiet-console hook: it runs TensorFlow's import only
    # when something else imports TensorFlow first, so it loads nothing by itself.
    seen, todo = {"gladnet_tf", "gladnet_tf.console"}, [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = PACKAGE.parent / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = PACKAGE.parent / name.replace(".", "/") / "__init__.py"
        heavy = {n for n in imported_names(path) if n.split(".")[0] in ("tensorflow", "keras")}
        assert not heavy, f"{name} (reached from {module}) imports {sorted(heavy)}"
        todo.extend(graph[name])


README = PACKAGE.parent / "README.md"
MAX_FUNCTION_LINES = 60  # docstring included


def _layout_table():
    """The module cells of the README's "Package layout" table, as paths under the repo."""
    text = README.read_text()
    section = text[text.index("## Package layout"):]
    section = section[: section.index("\n## ", 4)]
    named = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        folder = None
        for piece in re.findall(r"`([^`]+)`", cell):
            if "/" in piece:
                folder = piece.rsplit("/", 1)[0] if not piece.endswith("/") else piece.rstrip("/")
                named.add(piece.rstrip("/"))
            else:  # `winograd.py` beside `gladnet_tf/fast_detail.py`: the same folder
                named.add(f"{folder}/{piece}" if folder else piece)
    return named


def test_readme_package_layout_names_every_module_and_only_real_ones():
    named = _layout_table()
    repo = PACKAGE.parent
    for entry in named:
        assert (repo / entry).exists() or (repo / "gladnet_tf" / entry).exists(), (
            f"README's package layout names {entry}, which does not exist")
    covered = {pathlib.Path(entry) for entry in named}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(repo)
        if path.name == "__init__.py" or path.parent.name == "baselines" and path.name.startswith("_"):
            continue
        inside = any(relative == c or c in relative.parents for c in covered)
        assert inside, f"README's package layout does not mention {relative}"


def _checked_sources():
    """Every Python file the length limit covers: the package, gpu/, results/, benchmarks/, and
    the two scripts at the repository root (train.py, test.py), sorted."""
    repo = PACKAGE.parent
    paths = list(PACKAGE.rglob("*.py"))
    for folder in ("gpu", "results", "benchmarks"):
        paths += (repo / folder).glob("*.py")
    paths += [repo / "train.py", repo / "test.py"]
    return sorted(paths)


def test_no_function_in_the_package_scripts_or_tools_is_longer_than_the_limit():
    long = []
    for path in _checked_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over the limit: " + ", ".join(long)


def _public_functions(tree):
    """(name, node, is_method) of the module's public functions and of the public methods (and
    ``__init__``) of its public classes; top level only."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node, False
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if (isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                        and (not item.name.startswith("_") or item.name == "__init__")):
                    yield f"{node.name}.{item.name}", item, True


def missing_annotations(function, is_method):
    """What ``function`` leaves unannotated: its parameters' names (``*args``/``**kwargs``
    with their stars; a method's ``self``/``cls`` needs none), and ``return`` unless it is
    ``__init__``."""
    args = function.args
    positional = args.posonlyargs + args.args
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)
    if is_method and not static:
        positional = positional[1:]
    missing = [a.arg for a in positional + args.kwonlyargs if a.annotation is None]
    missing += [f"{stars}{a.arg}" for stars, a in (("*", args.vararg), ("**", args.kwarg))
                if a is not None and a.annotation is None]
    if function.name != "__init__" and function.returns is None:
        missing.append("return")
    return missing


def unannotated(source, where="<source>"):
    """One line per public function or method of ``source`` with something unannotated."""
    lines = []
    for name, node, is_method in _public_functions(ast.parse(source)):
        missing = missing_annotations(node, is_method)
        if missing:
            lines.append(f"{where}:{node.lineno} {name}: {', '.join(missing)}")
    return lines


def test_public_functions_have_type_hints():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += unannotated(path.read_text(), path.relative_to(PACKAGE.parent))
    assert not found, "unannotated public functions (parameter names, or 'return'):\n  " + "\n  ".join(found)


def test_the_type_hint_guard_sees_what_is_missing():
    source = (
        "def ok(a: int, *args: int, b: str = '', **kw: float) -> None: ...\n"
        "def bare(a, b: int, *rest, c, **kw): ...\n"
        "def _private(a): ...\n"
        "class Public:\n"
        "    def __init__(self, x): ...\n"
        "    def method(self, y: int): ...\n"
        "    @classmethod\n"
        "    def make(cls) -> 'Public': ...\n"
        "    @staticmethod\n"
        "    def helper(z) -> int: ...\n"
        "    def _hidden(self, w): ...\n"
        "class _Private:\n"
        "    def method(self, v): ...\n"
    )
    assert unannotated(source) == [
        "<source>:2 bare: a, c, *rest, **kw, return",
        "<source>:5 Public.__init__: x",
        "<source>:6 Public.method: return",
        "<source>:10 Public.helper: z",
    ]
