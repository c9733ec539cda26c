"""The house rules the wings' docstrings state, enforced on the imports of the checkout (every
``import`` and ``from ... import``, at module level or inside functions): no import circles between
modules, each wing imports only the wings its docstring's ``Imports:`` line names, and ``analysis``
reads fla through its public modules, never through a command module."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fla"
WINGS = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
COMMANDS = {  # modules that run a command: nothing but the command line imports them
    "fla.walks.sample",
    "fla.studies.sweep",
    "fla.paths.connect",
    "fla.landscapes.study",
    "fla.zoo.train",
    "fla.zoo.connect",
    "fla.slices.slice",
    "fla.studies.sharpness",
    "fla.studies.spawn",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(folder: Path) -> dict:
    return {module_name(p): p for p in sorted(folder.rglob("*.py"))}


def imports(path: Path, name: str, known: set) -> set:
    """The modules of ``known`` that the file imports (a package's name stands for its
    ``__init__``; ``from pkg import module`` for the module)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph(folder: Path, known: set) -> dict:
    return {name: imports(path, name, known) for name, path in modules(folder).items()}


def wing(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in WINGS else name


def declared(w: str) -> set:
    """The wings ``fla/<w>/__init__.py``'s docstring allows it to import."""
    doc = ast.get_docstring(ast.parse((PACKAGE / w / "__init__.py").read_text())) or ""
    line = re.search(r"^Imports: (.*)$", doc, re.M)
    assert line, f"fla/{w}/__init__.py's docstring has no 'Imports:' line"
    allowed = {x.strip().removeprefix("fla.").rstrip(".") for x in line.group(1).split(",")}
    return allowed - {"nothing", "nothing from fla"}


def cycles(edges: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return out


FLA = set(modules(PACKAGE))
EDGES = graph(PACKAGE, FLA)


def test_the_package_has_no_import_circles():
    assert cycles(EDGES) == []


@pytest.mark.parametrize("w", WINGS)
def test_each_wing_imports_only_the_wings_its_docstring_names(w):
    allowed = declared(w) | {w}
    wrong = {
        (a, b)
        for a, targets in EDGES.items()
        if wing(a) == w
        for b in targets
        if b != "fla" and wing(b) not in allowed
    }
    assert not wrong, f"fla.{w} imports wings its docstring does not name: {sorted(wrong)}"


def test_the_wings_stand_on_one_another_without_a_circle():
    assert cycles({w: declared(w) for w in WINGS}) == []


def test_only_the_command_line_imports_command_modules():
    users = {a: targets & COMMANDS for a, targets in EDGES.items() if targets & COMMANDS}
    users = {a: b for a, b in users.items() if wing(a) not in ("cli", "fla.api")}
    assert set(users) <= {"fla.studies.sweep", "fla.zoo.connect", "fla.walks.spawn"}, users
    # a sweep runs sampling tasks; spawning walks a run again in sampling's own programs
    assert users.get("fla.studies.sweep", set()) <= {"fla.walks.sample"}
    assert users.get("fla.walks.spawn", set()) <= {"fla.walks.sample"}
    assert users.get("fla.zoo.connect", set()) <= {"fla.paths.connect"}


def test_analysis_reads_fla_through_its_public_modules():
    known = FLA | set(modules(ROOT / "analysis"))
    edges = graph(ROOT / "analysis", known)
    front = {"cli", "fla.api"}  # the command line and the Python front door reach analysis
    wrong = {
        (a, b) for a, targets in edges.items() for b in targets if b in COMMANDS or wing(b) in front
    }
    assert not wrong, wrong
    assert not cycles(edges)


def test_only_the_front_doors_reach_into_analysis():
    known = FLA | set(modules(ROOT / "analysis"))
    users = {
        a
        for a, targets in graph(PACKAGE, known).items()
        if any(b.startswith("analysis") for b in targets)
    }
    assert {wing(a) for a in users} <= {"cli", "fla.api"}, users


def test_the_wing_rule_is_checked_on_a_planted_back_arrow(tmp_path):
    """The checker itself: a module of a lower wing that imports a higher one is caught."""
    fake = {"fla.core.networks": {"fla.walks.program"}, "fla.walks.program": {"fla.core.networks"}}
    assert cycles(fake) == [["fla.core.networks", "fla.walks.program"]]
    assert "walks" not in declared("core")


@pytest.mark.parametrize(
    "package", [*(f"fla/{w}" for w in WINGS if w not in ("cli", "data")), "analysis"]
)
def test_each_wing_lists_its_public_modules(package):
    """A wing's ``__all__`` names exactly its modules whose names do not start with ``_``."""
    folder = ROOT / package
    tree = ast.parse((folder / "__init__.py").read_text())
    listed = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__all__"]
    ]
    public = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    assert listed == [public], f"{package}/__init__.py: __all__ must be {public}"


def test_the_front_door_exports_what_it_documents():
    import fla.api

    public = sorted(
        n for n in vars(fla.api) if callable(getattr(fla.api, n)) and not n.startswith("_")
    )
    public = [n for n in public if getattr(fla.api, n).__module__ == "fla.api"]
    assert public == sorted(fla.api.__all__)


# Functions whose positional arguments are fixed by TensorFlow, not by fla: the bodies and
# conditions tf.while_loop calls with its loop variables, and the traced programs whose
# input_signature (or concrete function) takes tensors by position.
COMPILED = {
    ("fla/core/objective.py", "hvp_at"),
    ("fla/landscapes/quench.py", "trial"),
    ("fla/paths/curves.py", "run"),
    ("fla/paths/curves.py", "cond"),
    ("fla/paths/curves.py", "body"),
    ("fla/paths/relax.py", "run"),
    ("fla/walks/program.py", "run"),
    ("fla/walks/program.py", "_step_fn"),
    ("fla/walks/program.py", "_loop_fn"),
    ("fla/walks/program.py", "body"),
}


def positional_heavy(path: Path) -> list:
    """Functions of ``path`` taking more than three positional parameters (self and cls aside)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [a.arg for a in node.args.posonlyargs + node.args.args]
            if len([n for n in names if n not in ("self", "cls")]) > 3:
                found.append(node.name)
    return found


def test_parameters_after_the_third_are_keyword_only():
    heavy = {
        (str(p.relative_to(ROOT)), name)
        for folder in (PACKAGE, ROOT / "analysis")
        for p in sorted(folder.rglob("*.py"))
        for name in positional_heavy(p)
    }
    assert heavy == COMPILED, f"make these keyword-only after the third: {sorted(heavy - COMPILED)}"


def test_the_keyword_rule_is_checked_on_a_planted_function(tmp_path):
    planted = tmp_path / "m.py"
    planted.write_text("def f(a, b, c, *, d):\n    pass\n\n\ndef g(a, b, c, d):\n    pass\n")
    assert positional_heavy(planted) == ["g"]
