"""The entry point installed as `visionati-sync` (``visionati_sync.cli:main``): the command
line lives in ``commands/``."""

from .commands import main

__all__ = ["main"]
