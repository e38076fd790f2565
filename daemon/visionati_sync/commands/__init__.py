"""The command line: the click group (``group``) and one module per family of verbs —
``scanning`` (`estimate`, `scan`), ``reading`` (`status`, `costs`, `jobs`), ``tagging``
(`preview`, `apply`, `untag`), ``operating`` (`run`, `retry`, `install-service`, `db`,
`emulator`), ``checking`` (`doctor`), ``serving`` (`ui`) — with how reports read on a
terminal (``display``) and how a scan shows where it is (``progress``). Nothing but
parsing, wiring and printing: what a command does is an action's (``actions/``) or the
service's (``service/``). Each command imports what it needs when it runs, so `--version`,
`--help`, `status` and `jobs` load neither the daemon nor the logging."""

from . import (  # noqa: F401 (each adds its verbs)
    checking,
    operating,
    reading,
    scanning,
    serving,
    tagging,
)
from .group import main

__all__ = ["main"]
