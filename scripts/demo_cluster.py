"""`make demo-cluster`: a fleet on one machine. A throwaway PostgreSQL server, the emulator,
and two daemons sharing one folder (each mounting it at a path of its own, one name for both);
`status` shows both at work, then every file tagged once. Everything is removed at the end
but demo-scratch/, which keeps the configs, the logs and the sidecars.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from visionati_sync.devtools import samples
from visionati_sync.devtools.pgserver import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / "demo-scratch"
VS = [sys.executable, "-m", "visionati_sync"]
PHOTOS = 120


def status(config: Path) -> dict[str, object]:
    found = subprocess.run(
        [*VS, "-c", str(config), "status", "--json"], capture_output=True, text=True, check=True
    )
    return json.loads(found.stdout)  # type: ignore[no-any-return]


def main() -> int:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    share = SCRATCH / "share"
    share.mkdir(parents=True)
    images = samples.write_library(share, PHOTOS)
    with PostgresServer() as postgres:
        url = postgres.create_database("visionati")
        print(f"postgresql: {url} (a throwaway cluster)")
        emulator = subprocess.Popen(
            [*VS, "emulator", "--port", "0", "--queued-polls", "2", "--processing-polls", "2"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert emulator.stdout is not None
        api = emulator.stdout.readline().strip().rsplit(" ", 1)[-1]
        print(f"emulator: {api}")
        daemons, configs = [], []
        for name in ("alpha", "beta"):
            mount = SCRATCH / f"{name}-mount"  # as if each machine mounted the share itself
            mount.symlink_to(share, target_is_directory=True)
            config = SCRATCH / f"{name}.yaml"
            config.write_text(yaml.safe_dump({
                "api": {"base_url": api, "key": "emulator-key", "poll_interval": 0.5,
                        "max_inflight_requests": 2},
                "database": {"url": url, "lease_seconds": 15},
                "folders": [{"path": str(mount), "name": "studio share"}],
                "log_level": "debug",  # a line per sidecar written: counted below
            }))  # fmt: skip
            log = (SCRATCH / f"{name}.log").open("w")
            daemons.append(subprocess.Popen([*VS, "-c", str(config), "run"], stdout=log,
                                            stderr=subprocess.STDOUT))  # fmt: skip
            configs.append(config)
            print(f"daemon {name}: watching {mount.relative_to(ROOT)} as 'studio share'")
        try:
            deadline, shown = time.monotonic() + 180, False
            while time.monotonic() < deadline:
                report = status(configs[0])
                working = [d for d in report["daemons"] if d["requests_in_flight"]]  # type: ignore[index, union-attr]
                if len(working) == 2 and not shown:
                    subprocess.run([*VS, "-c", str(configs[0]), "status"], check=True)
                    shown = True
                if report["counts"]["done"] == PHOTOS:  # type: ignore[index]
                    break
                time.sleep(0.3)
            else:
                print("demo-cluster: timed out; see demo-scratch/*.log", file=sys.stderr)
                return 1
            subprocess.run([*VS, "-c", str(configs[1]), "status"], check=True)
        finally:
            for daemon in daemons:
                daemon.send_signal(signal.SIGTERM)
            for daemon in daemons:
                daemon.wait(timeout=30)
            emulator.terminate()
            emulator.wait(timeout=5)
    by_daemon = {
        name: sum('"tagged"' in line for line in (SCRATCH / f"{name}.log").open())
        for name in ("alpha", "beta")
    }
    written = sum((image.parent / f"{image.name}.xmp").exists() for image in images)
    print(f"\n{written} of {PHOTOS} photos have their XMP sidecar; sidecars written by each "
          f"daemon: {by_daemon}")  # fmt: skip
    return 0 if written == PHOTOS and sum(by_daemon.values()) == PHOTOS else 1


if __name__ == "__main__":
    sys.exit(main())
