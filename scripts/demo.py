"""`make demo`: the real daemon against the emulator on a scratch folder.

Starts the emulator, starts `visionati-sync run` watching demo-scratch/photos, drops a few
generated photos in, waits until each is tagged, prints the sidecars, stops both, exits.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from visionati_sync.devtools import samples

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / "demo-scratch"
VS = [sys.executable, "-m", "visionati_sync"]


def main() -> int:
    if SCRATCH.exists():
        subprocess.run(["rm", "-rf", str(SCRATCH)], check=True)
    photos = SCRATCH / "photos"
    photos.mkdir(parents=True)
    emulator = subprocess.Popen(
        [*VS, "emulator", "--port", "0", "--queued-polls", "2", "--processing-polls", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert emulator.stdout is not None
    url = emulator.stdout.readline().strip().rsplit(" ", 1)[-1]
    print(f"emulator: {url} (synthetic results, no account needed)")
    config = SCRATCH / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "api": {
                    "base_url": url,
                    "key": "emulator-key",
                    "poll_interval": 0.5,
                    "features": ["tags", "descriptions"],
                    "backends": ["clarifai", "openai"],
                },
                "database": {"url": f"sqlite:///{SCRATCH / 'state.db'}"},
                "folders": [{"path": str(photos)}],
                "watch": {"settle_seconds": 1},
            }
        )
    )
    log = (SCRATCH / "daemon.log").open("w")
    daemon = subprocess.Popen([*VS, "-c", str(config), "run"], stdout=log, stderr=log)
    try:
        time.sleep(1.5)
        print(f"daemon: watching {photos.relative_to(ROOT)}; dropping in 6 photos")
        images = samples.write_library(photos, 6)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = json.loads(
                subprocess.run(
                    [*VS, "-c", str(config), "status", "--json"],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            if status["counts"]["done"] == len(images):
                break
            time.sleep(0.5)
        else:
            print("demo: timed out; see demo-scratch/daemon.log", file=sys.stderr)
            return 1
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
        emulator.terminate()
        emulator.wait(timeout=5)
    for image in images:
        sidecar = image.with_name(image.name + ".visionati.json")
        document = json.loads(sidecar.read_text())
        asset = document["asset"]
        print(f"\n{sidecar.relative_to(ROOT)}")
        print(f"  request {document['request_id']}, tagged {document['tagged_at']}")
        print(f"  tags: {', '.join(asset.get('tags', {}))}")
        for description in asset.get("descriptions", []):
            print(f"  description ({description['source']}): {description['description']}")
    first = images[0]
    print(f"\n{first.name}.xmp (what darktable, digiKam, Lightroom and Immich read):")
    print(first.with_name(first.name + ".xmp").read_text())
    print(f"{first.name}.visionati.json (everything the API said, verbatim):")
    print(first.with_name(first.name + ".visionati.json").read_text())
    subprocess.run([*VS, "-c", str(config), "status"], check=True)
    print(f"daemon exited with {daemon.returncode}; its log is demo-scratch/daemon.log")
    return daemon.returncode


if __name__ == "__main__":
    sys.exit(main())
