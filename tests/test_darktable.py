"""darktable, the one photo manager that runs here (Debian's ``darktable``, its command-line
exporter): given a photo and a sidecar we wrote for a target whose sidecar it can be handed,
it exports a JPEG carrying our keywords and our description. darktable reads an XMP only
on import (darktable #19728), which is what its exporter does."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from media import jpeg
from readers import as_list, exiftool
from support import Library

SIDECAR_TARGETS = ["darktable", "digikam", "immich", "photoprism", "capture-one"]


@pytest.mark.parametrize("target", SIDECAR_TARGETS)
def test_darktable_exports_what_we_wrote_for_each_target(library: Library, target: str) -> None:
    darktable = shutil.which("darktable-cli")
    assert darktable, "darktable-cli is missing: scripts/system-deps.sh installs it"
    photo = jpeg(library.photos / "IMG_1.jpg", 480, 320)
    library.configure(sidecars={"targets": [target]})
    assert library.cli("scan").returncode == 0
    sidecars = sorted(library.photos.glob("*.xmp"))
    assert sidecars, f"{target}: no XMP sidecar written"
    for sidecar in sidecars:
        ours = exiftool(sidecar)[sidecar]
        out = library.tmp / f"export-{sidecar.name}.jpg"
        done = subprocess.run(
            [darktable, str(photo), str(sidecar), str(out), "--core",
             "--configdir", str(library.tmp / "darktable"), "--library", ":memory:"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0 and out.exists(), done.stdout + done.stderr
        exported = exiftool(out)[out]
        keywords = set(as_list(ours["XMP-dc:Subject"]))
        assert keywords and keywords <= set(as_list(exported.get("XMP-dc:Subject"))), sidecar
        assert exported.get("XMP-dc:Description") == ours["XMP-dc:Description"]
