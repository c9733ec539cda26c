"""The Python API's docstrings, in one style: every public function and method of what
docs/reference*.md render says, Google style, what each parameter is (``Args:``, every parameter
by name) and what comes back (``Returns:``), so that mkdocstrings shows parameters, shapes and
returns the same way everywhere."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = [
    target
    for page in sorted((ROOT / "docs").glob("reference*.md"))
    for target in re.findall(r"^::: ([\w.]+)", page.read_text(), re.M)
]


def source_of(target: str):
    """(module file, class name or None) of a dotted target of the reference page."""
    parts = target.split(".")
    for cut in range(len(parts), 0, -1):
        path = ROOT.joinpath(*parts[:cut])
        for file in (path.with_suffix(".py"), path / "__init__.py"):
            if file.is_file():
                rest = parts[cut:]
                return file, rest[0] if rest else None
    raise AssertionError(f"docs/reference.md renders {target}, which is no module of the checkout")


def documented(target: str):
    """Every public function and method (``__init__`` included) the target renders."""
    file, cls = source_of(target)
    tree = ast.parse(file.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and cls is None and not node.name.startswith("_"):
            yield node.name, node
        if isinstance(node, ast.ClassDef) and (cls is None or node.name == cls):
            if node.name.startswith("_"):
                continue
            for m in node.body:
                if isinstance(m, ast.FunctionDef) and (
                    not m.name.startswith("_") or m.name == "__init__"
                ):
                    yield f"{node.name}.{m.name}", m


def parameters(fn: ast.FunctionDef) -> list[str]:
    a = fn.args
    names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
    names += [f"*{a.vararg.arg}"] if a.vararg else []
    names += [f"**{a.kwarg.arg}"] if a.kwarg else []
    return [n for n in names if n not in ("self", "cls")]


def returns_a_value(fn: ast.FunctionDef) -> bool:
    """Whether the function itself (not a function inside it) returns something."""
    if any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list):
        return False
    todo = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return) and node.value is not None:
            return True
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return False


def section(doc: str, name: str) -> str | None:
    """The text of a Google-style section (``Args:``) of a docstring, None if it has none."""
    match = re.search(rf"^{name}:\n((?:[ ]{{4}}.*\n?|\n)+)", doc, re.M)
    return match.group(1) if match else None


def style_problems(name: str, fn: ast.FunctionDef) -> list[str]:
    doc = ast.get_docstring(fn) or ""
    if not doc:
        return [f"{name} has no docstring"]
    problems = []
    wanted = parameters(fn)
    args = section(doc, "Args")
    if wanted and args is None:
        problems.append(f"{name}: no Args: section for {', '.join(wanted)}")
    for p in wanted if args is not None else []:
        if not re.search(rf"^    {re.escape(p)}( \(.*\))?:", args, re.M):
            problems.append(f"{name}: Args: does not name {p}")
    if returns_a_value(fn) and fn.name != "__init__" and section(doc, "Returns") is None:
        problems.append(f"{name}: returns a value and has no Returns: section")
    return problems


@pytest.mark.parametrize("target", TARGETS)
def test_the_reference_pages_docstrings_name_every_parameter_and_the_return(target):
    problems = [p for name, fn in documented(target) for p in style_problems(name, fn)]
    assert not problems, "\n".join(problems)


def test_the_style_check_catches_what_it_checks():
    """A docstring without Args:, one that forgets a parameter and one that forgets Returns:."""
    code = '''
def none(a):
    """Text."""
    return a
def forgets(a, b):
    """Text.

    Args:
        a: one.

    Returns:
        a.
    """
    return a
def good(a, *, b=1, **rest):
    """Text.

    Args:
        a: one.
        b: two.
        **rest: the others.

    Returns:
        a.
    """
    return a
def nothing(a):
    """Text.

    Args:
        a: one.
    """
    def inner():
        return 1
'''
    found = {n.name: style_problems(n.name, n) for n in ast.parse(code).body}
    assert found["none"] == ["none: no Args: section for a", "none: returns a value and has no "
                             "Returns: section"]  # fmt: skip
    assert found["forgets"] == ["forgets: Args: does not name b"]
    assert found["good"] == [] and found["nothing"] == []


def module_names() -> list[str]:
    """Every module of the fla package and the analysis wing, dotted."""
    files = sorted((ROOT / "fla").rglob("*.py")) + sorted((ROOT / "analysis").rglob("*.py"))
    names = [".".join(f.relative_to(ROOT).with_suffix("").parts) for f in files]
    return [n.removesuffix(".__init__") for n in names if "._" not in n or n.endswith("__init__")]


@pytest.mark.parametrize("module", module_names())
def test_every_public_function_of_fla_follows_the_one_style(module):
    """Not only the reference pages: every public function and method of every module."""
    problems = [p for name, fn in documented(module) for p in style_problems(name, fn)]
    assert not problems, "\n".join(problems)
