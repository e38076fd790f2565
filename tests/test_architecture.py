"""The layout promises of docs/architecture.md, checked: the package's folders are layers, and
a module imports only from layers below its own (or from its own folder); nothing imports the
command line; only ``renditions/tools`` runs other programs; the daemon never imports its dev
tools at import time; the parts that only look at files never load the database layer. Each
rule is also shown to catch a module that breaks it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "daemon" / "visionati_sync"
ROOT = PACKAGE.parents[1]

# The layers, lowest first: a module may import from a lower layer, or from its own folder.
# (docs/architecture.md draws the same picture.)
LAYERS: list[set[str]] = [
    {"records", "files", "log", "workers", "places", "__init__", "shared"},  # shared, at the top
    {"api"},
    {"renditions"},
    {"rules"},
    {"jobtable"},
    {"config"},
    {"sidecars"},
    {"notices"},
    {"pipeline"},
    {"actions", "service"},
    {"web"},  # the review page and dashboard: over actions, wired by the commands
    {"commands"},  # with cli.py and __main__.py, its entry points
]
RUNS_PROGRAMS = {"renditions/tools.py"}  # the one module that starts other programs


def home(relative: Path) -> str:
    """Given a module's path inside the package, the layer name it lives in: its folder, or,
    at the top, its own name (the entry points count as the command line)."""
    name = relative.parts[0] if len(relative.parts) > 1 else relative.stem
    if name in ("cli", "__main__"):
        return "commands"
    return "shared" if name in LAYERS[0] else name


def rank(name: str) -> int | None:
    return next((n for n, layer in enumerate(LAYERS) if name in layer), None)


def imports(path: Path, package: Path) -> list[tuple[str, bool]]:
    """Every module a source file imports (as a path inside the package, dotted, without
    the package's own name; others as they are), and whether it is at the file's top."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts = list(path.relative_to(package).with_suffix("").parts)
    here = parts[:-1]  # the folder a relative import starts from
    found = []
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top_level) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1] + ([node.module] if node.module else [])
                name = ".".join(["visionati_sync", *base])
            else:
                name = node.module or ""
            if node.module:
                found.append((name, id(node) in top_level))
            else:  # `from .. import tools`: each name a module
                found += [(f"{name}.{alias.name}", id(node) in top_level) for alias in node.names]
    return found


def violations(package: Path) -> list[str]:
    """Every import in ``package`` that breaks a rule above, said in one line each."""
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        where = home(relative)
        if where == "devtools":
            continue  # the emulator and the test servers: checked below as a target only
        mine = rank(where)
        if mine is None:
            found.append(f"{relative}: in no layer")
            continue
        for module, top_level in imports(path, package):
            if module.split(".")[0] in ("subprocess",) and str(relative) not in RUNS_PROGRAMS:
                found.append(f"{relative} runs programs (imports {module})")
            if not module.startswith("visionati_sync."):
                continue
            inside = module.split(".")[1]
            inside = "shared" if inside in LAYERS[0] else inside
            if inside == "devtools":
                if where not in ("commands", "cli") or top_level:
                    found.append(f"{relative} imports the dev tools ({module})")
                continue
            theirs = rank(inside)
            if theirs is None:  # a name imported from the package itself (__version__)
                continue
            if inside == where:
                continue
            if theirs >= mine:
                found.append(f"{relative} ({where}) imports {module} ({inside}): not below it")
    return list(dict.fromkeys(found))


def test_each_module_imports_only_from_the_layers_below_its_own() -> None:
    assert violations(PACKAGE) == []


@pytest.mark.parametrize(
    ("module", "source", "said"),
    [
        ("rules/bad.py", "from ..jobtable import JobTable\n", "not below it"),
        ("api/bad.py", "from ..commands import main\n", "not below it"),
        ("pipeline/bad.py", "from ..service.daemon import Service\n", "not below it"),
        ("actions/bad.py", "from ..service import daemon\n", "not below it"),
        ("jobtable/bad.py", "import subprocess\n", "runs programs"),
        ("sidecars/bad.py", "from ..devtools import emulator\n", "imports the dev tools"),
        ("commands/bad.py", "from ..devtools import emulator\n", "imports the dev tools"),
        ("stray/bad.py", "import os\n", "in no layer"),
    ],
)
def test_each_rule_catches_a_module_that_breaks_it(
    tmp_path: Path, module: str, source: str, said: str
) -> None:
    (tmp_path / module).parent.mkdir(parents=True)
    (tmp_path / module).write_text(source)
    (found,) = violations(tmp_path)
    assert said in found and module in found


def test_the_file_side_loads_no_database_layer() -> None:
    script = (
        "import visionati_sync.pipeline.scanner, visionati_sync.pipeline.watcher, "
        "visionati_sync.rules.selection, visionati_sync.sidecars.xmp, visionati_sync.records, "
        "visionati_sync.rules.policy; "
        "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


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


def rows(text: str, heading: str) -> dict[str, str]:
    """The rows of the markdown table that starts at ``heading``, by their first cell."""
    table = text[text.index(heading) :].split("\n\n")[0]
    found = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        found[cells[0]] = " | ".join(cells[1:])
    return found


@pytest.mark.parametrize("document", ["README.md", "docs/architecture.md"])
def test_the_tree_is_shown_a_line_per_folder_naming_each_module(document: str) -> None:
    table = rows((ROOT / document).read_text(), "| folder | what lives there |")
    for path in sorted(PACKAGE.iterdir()):
        if path.name.startswith("__") or path.name.endswith(".pyc"):
            continue
        if path.is_dir():
            row = table.get(f"`{path.name}/`")
            assert row is not None, f"{document} shows no line for {path.name}/"
            for module in sorted(path.glob("*.py")):
                if module.stem != "__init__":
                    assert f"`{module.stem}`" in row, (
                        f"{document}: {path.name}/ lacks {module.stem}"
                    )
        else:  # a module at the top: named somewhere in the table
            named = any(f"`{path.stem}`" in row for row in table.values())
            assert named, f"{document} does not name {path.stem}"


def sizes() -> list[tuple[str, int]]:
    """Every module outside devtools/ and every class in one, with its length in lines."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if "devtools" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        found.append((str(path.relative_to(PACKAGE)), len(text.splitlines())))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                found.append((f"{path.relative_to(PACKAGE)}:{node.name}", length))
    return found


def test_no_module_is_over_400_lines_and_no_class_over_250() -> None:
    too_long = [
        (name, length) for name, length in sizes() if length > (250 if ":" in name else 400)
    ]
    assert too_long == []
