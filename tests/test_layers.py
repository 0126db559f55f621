"""The house's rule: each stage imports only from the stages below it, and no module imports
itself in a circle. docs/architecture.md draws the same order; a new folder must be placed here.

Every import counts: at the top, inside a function, or for type checking only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "evalbatch"

# Bottom to top. A module may import from its own layer and the layers before it.
LAYERS = [
    ("foundations", {"evalbatch", "evalbatch.schema", "evalbatch.rules", "evalbatch.findings", "evalbatch.values",
                     "evalbatch.files", "evalbatch.lock"}),
    ("formats", {"evalbatch.formats"}),
    ("layouts", {"evalbatch.layouts"}),
    ("read", {"evalbatch.read"}),
    ("judge", {"evalbatch.judge"}),
    ("write", {"evalbatch.write"}),
    ("review", {"evalbatch.review"}),
    ("roster", {"evalbatch.roster"}),
    ("night", {"evalbatch.night"}),
    ("samples", {"evalbatch.samples"}),
    ("faces", {"evalbatch.cli", "evalbatch.cli_zh", "evalbatch.__main__", "evalbatch.web"}),
]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def layer_of(module: str) -> int:
    for index, (_, names) in enumerate(LAYERS):
        for name in names:
            folder = name != "evalbatch" and (PACKAGE.parent / name.replace(".", "/")).is_dir()
            if module == name or (folder and module.startswith(name + ".")):
                return index
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS and docs/architecture.md")


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                name = ".".join(x for x in (base, node.module or "") if x)
            else:
                name = node.module or ""
            for candidate in [name] + [f"{name}.{a.name}" for a in node.names]:
                if candidate in known and candidate != module:
                    out.add(candidate)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known and a.name != module)
    # A package's own __init__ is imported with any of its modules: not an edge of its own.
    return {m for m in out if not module.startswith(m + ".")}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports_of(m, p, set(mods)) for m, p in mods.items()}


def test_every_module_has_a_layer():
    for module in modules():
        layer_of(module)


def test_imports_run_only_downwards():
    upward = []
    for module, targets in graph().items():
        for target in targets:
            if layer_of(target) > layer_of(module):
                upward.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert upward == []


def test_no_import_circle():
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(g[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (circle := visit(w)):
                return circle
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(g):
        if v not in state and (circle := visit(v)):
            pytest.fail("import circle: " + " -> ".join(circle))


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule is not vacuous: an upward import in a stage module is reported."""
    fake = tmp_path / "evalbatch" / "read"
    fake.mkdir(parents=True)
    (fake / "x.py").write_text("from ..night.runner import run\nfrom ..judge import scoring\n", encoding="utf-8")
    known = {"evalbatch.night.runner", "evalbatch.judge.scoring", "evalbatch.judge", "evalbatch.read.x"}
    found = imports_of("evalbatch.read.x", fake / "x.py", known)
    assert found == {"evalbatch.night.runner", "evalbatch.judge", "evalbatch.judge.scoring"}
    assert layer_of("evalbatch.night.runner") > layer_of("evalbatch.read.x") < layer_of("evalbatch.judge.scoring")
