"""The layout promises of docs/architecture.md, checked: the parts that only look at files
never load the database layer, and the daemon never imports its dev tools."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "daemon" / "visionati_sync"


def test_the_file_side_loads_no_database_layer() -> None:
    script = (
        "import visionati_sync.scanner, visionati_sync.watcher, visionati_sync.selection, "
        "visionati_sync.sidecars.xmp, visionati_sync.records, visionati_sync.policy; "
        "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def imports(path: Path) -> list[tuple[str, bool]]:
    """Every module a source file imports, and whether the import is at its top level."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found += [(base, id(node) in top_level)]
            found += [(f"{base}.{alias.name}", id(node) in top_level) for alias in node.names]
    return found


def test_no_daemon_module_imports_the_dev_tools() -> None:
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        if "devtools" in path.parts:
            continue
        for module, top_level in imports(path):
            if "devtools" not in module:
                continue
            # only the command line reaches them, and only inside `visionati-sync emulator`
            assert path.name == "cli.py" and not top_level, f"{path.name} imports {module}"
        checked += 1
    assert checked > 30


def test_the_parts_never_import_the_command_line_or_the_service() -> None:
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for module, _ in imports(path):
            assert module not in ("visionati_sync.cli", "visionati_sync.service") or (
                path.name == "service.py" and module == "visionati_sync.service"
            ), f"{path.relative_to(PACKAGE)} imports {module}"


ROOT = PACKAGE.parents[1]


def test_the_state_machine_in_the_docs_is_the_one_in_the_code() -> None:
    from visionati_sync.jobtable import transitions

    documented = {}
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isupper():
            documented[cells[0]] = (set(cells[1].split(", ")), set(cells[2].split(", ")))
    constants = {
        name: value
        for name, value in vars(transitions).items()
        if isinstance(value, transitions.Transition)
    }
    assert set(constants.values()) == set(transitions.TRANSITIONS)
    in_code = {
        name: ({str(s) for s in value.sources}, {str(s) for s in value.targets})
        for name, value in constants.items()
    }
    assert documented == in_code


def test_the_readme_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| module | its job |") :].split("\n\n")[0]
    for path in PACKAGE.iterdir():
        name = path.stem if path.suffix == ".py" else f"{path.name}/"
        if name.startswith("__") or path.name.endswith((".pyc", "__pycache__")):
            continue
        assert f"`{name}`" in table or f"`{name}" in table, f"README does not name {name}"
