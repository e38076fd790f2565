"""What the browser tests share: `visionati-sync ui` as a real subprocess (its first line is
the address to open), and Debian's chromium driven by Playwright (no browser downloaded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"  # screenshots, kept


class UiServer:
    """``visionati-sync ui`` on a free port of this machine, until ``stop``."""

    def __init__(self, config: Path, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "visionati_sync", "-c", str(config), "ui",
             "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()
        if not self.address.startswith("http://"):
            self.stop()
            raise AssertionError(f"ui printed {self.address!r}; stderr: {self.stderr}")
        self.origin = self.address.split("/?", 1)[0]
        self.token = self.address.split("token=", 1)[1]

    @property
    def stderr(self) -> str:
        return self.process.stderr.read() if self.process.stderr and self.process.poll() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def __enter__(self) -> UiServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def screenshot(page: object, name: str) -> Path:
    """Save the page as it looks, as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
