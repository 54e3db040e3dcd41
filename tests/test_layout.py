"""The floor plan (docs/architecture.md): no import runs upward.

front door (scrutiny.api, cli, viewer, ..., trainers) → agents → tools, skills, memory → scrutiny.core
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
FLOOR = {"core": 0, "tools": 1, "skills": 1, "memory": 1, "agents": 2}
"""Floors below the front door (3): a module may import its own package and the floors below it."""


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT)
    parts = [FOLDERS[relative.parts[0]], *relative.with_suffix("").parts[1:]]
    return ".".join(p for p in parts if p != "__init__")


def package(module: str) -> str:
    """The part of the floor plan a module belongs to: core, tools, ..., or the front door."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FLOOR else "front door"


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
    assert {package(n) for n in names} == {"core", "tools", "skills", "memory", "agents", "front door"}


def test_no_import_runs_upward():
    upward = []
    for name, path in sorted(modules().items()):
        mine = package(name)
        if mine == "front door":
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
    assert package("scrutiny.api") == "front door" and package("scrutiny.memory.store") == "memory"
