"""The floor plan (docs/architecture.md): no import runs upward.

apps (cli, viewer) → trainers → library (api, batch, traces, ..., testing) → agents → tools, skills,
memory → scrutiny.core. The package root loads its names lazily, so importing any floor loads
nothing above it.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {
    "scrutiny": "scrutiny",
    "agents": "scrutiny.agents",
    "tools": "scrutiny.tools",
    "skills": "scrutiny.skills",
    "memory": "scrutiny.memory",
    "trainers": "scrutiny.trainers",
}
FLOOR = {
    "root": 0,
    "core": 0,
    "tools": 1,
    "skills": 1,
    "memory": 1,
    "agents": 2,
    "library": 3,
    "trainers": 4,
    "apps": 5,
}
"""A module may import its own part and the floors below it. The root (`scrutiny`) holds the version
and loads its public names on first use, so any floor may import it."""


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT)
    parts = [FOLDERS[relative.parts[0]], *relative.with_suffix("").parts[1:]]
    return ".".join(p for p in parts if p != "__init__")


def package(module: str) -> str:
    """The part of the floor plan a module belongs to: core, tools, ..., library, trainers, apps."""
    parts = module.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] in ("cli", "viewer"):
        return "apps"
    return parts[1] if parts[1] in FLOOR else "library"


def project_imports(path: Path) -> set[str]:
    """Every scrutiny module this file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("scrutiny"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scrutiny"):
            found.add(node.module)
    return found


def modules() -> dict[str, Path]:
    return {module_name(p): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}


def test_every_module_is_in_the_plan():
    names = modules()
    assert "scrutiny.core.schema" in names and "scrutiny.agents.judge" in names and "scrutiny.testing.scenes" in names
    assert set(FLOOR) == {package(n) for n in names}
    assert package("scrutiny.trainers.rewards") == "trainers" and package("scrutiny.cli.common") == "apps"


def test_no_import_runs_upward():
    upward = []
    for name, path in sorted(modules().items()):
        mine = package(name)
        if mine == "root":  # its imports are for type checkers only (`test_the_root_imports_nothing_at_load`)
            continue
        for imported in project_imports(path):
            theirs = package(imported)
            allowed = theirs == mine or FLOOR.get(theirs, 3) < FLOOR[mine]
            if not allowed:
                upward.append(f"{name} ({mine}) imports {imported} ({theirs})")
    assert upward == []


def test_the_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from scrutiny.api import Judge\nimport scrutiny.core.schema\n")
    assert project_imports(bad) == {"scrutiny.api", "scrutiny.core.schema"}
    assert package("scrutiny.api") == "library" and package("scrutiny.memory.store") == "memory"


def test_the_root_imports_nothing_at_load():
    """`scrutiny/__init__.py` names its public names; they load on first use (PEP 562)."""
    tree = ast.parse((ROOT / "scrutiny" / "__init__.py").read_text())
    eager = [
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("scrutiny")
    ]
    assert eager == []


def test_importing_the_core_loads_nothing_above_it():
    import subprocess
    import sys

    code = (
        "import sys, scrutiny.core.schema, scrutiny.core.images\n"
        "print(sorted(m for m in sys.modules if m.startswith('scrutiny') or m in ('cv2', 'langgraph', 'sqlmodel')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    names = ast.literal_eval(loaded)
    assert "scrutiny.core.schema" in names
    assert [n for n in names if n != "scrutiny" and not n.startswith("scrutiny.core")] == []
    import scrutiny

    assert scrutiny.Judge.__module__ == "scrutiny.api" and "Judge" in dir(scrutiny)


def test_rooms_stay_small():
    """No module over 600 lines, no function over 60, and nine functions in ten at most 25 lines."""
    lengths, long_functions, long_modules = [], [], []
    for name, path in modules().items():
        text = path.read_text()
        if len(text.splitlines()) > 600:
            long_modules.append(name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                lengths.append(node.end_lineno - start + 1)
                if lengths[-1] > 60:
                    long_functions.append(f"{name}.{node.name}")
    lengths.sort()
    assert long_modules == [] and long_functions == []
    assert lengths[int(0.9 * len(lengths))] <= 25
