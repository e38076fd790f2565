"""What ships beside the code: the example config and the systemd unit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from visionati_sync.config import Settings, load_config

ROOT = Path(__file__).resolve().parents[1]


def keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    found = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += keys(annotation, f"{prefix}{name}.")
        else:
            found.append(prefix + name)
    return found


def test_the_example_config_is_valid_and_documents_every_key(tmp_path: Path) -> None:
    text = (ROOT / "config.example.yaml").read_text()
    example = tmp_path / "config.yaml"
    example.write_text(text)
    load_config(example, environ={})
    # commented-out keys (`  # key: value`) count as documented
    uncommented = re.sub(r"^(\s*)# ([a-z_]+:)", r"\1\2", text, flags=re.MULTILINE)
    flat = yaml.safe_load(uncommented)
    for key in keys(Settings):
        section, _, name = key.rpartition(".")
        holder = flat.get(section, {}) if section else flat
        assert name in holder, f"config.example.yaml does not document {key}"


def test_the_systemd_unit_verifies_cleanly(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (ROOT / "systemd/visionati-sync.service").read_text()
    executable = Path(sys.executable).with_name("visionati-sync")
    assert "ExecStart=/usr/local/bin/visionati-sync " in unit
    local = tmp_path / "visionati-sync.service"
    local.write_text(unit.replace("/usr/local/bin/visionati-sync", str(executable)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    # verify exits 0 on unknown or misspelled keys: any output at all is a failure
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_package_ships_in_the_wheel() -> None:
    """An editable install finds a package the wheel would leave out: list them all."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    package = ROOT / "daemon" / "visionati_sync"
    found = {
        ".".join(("visionati_sync", *init.parent.relative_to(package).parts))
        for init in package.rglob("__init__.py")
    }
    assert found - listed == set()
