"""Where the credits went: what the API charged against what the price table says."""

from __future__ import annotations

from support import EmulatorControl, Library
from visionati_sync.devtools import samples

DRIFT = (
    "the API charged 10 credits per image where the price table says 9, "
    "for tags+descriptions with the default backends; estimates may be low"
)


def test_a_charge_other_than_the_price_table_is_said_once_and_shown_by_status(
    library: Library, control: EmulatorControl
) -> None:
    control.settings(price_drift=1)  # the API's price went up; our table does not know
    samples.write_library(library.photos, 20)
    scan = library.cli("scan", "--yes")
    assert scan.returncode == 0, scan.stderr
    assert scan.stderr.count(DRIFT) == 1  # three requests, one warning
    assert sum(entry["credits"] for entry in control.uploads()) == 200
    assert f"price: {DRIFT}" in library.cli("status").stdout
    (drift,) = library.status()["price_drift"]
    assert drift["charged"] * 9 == drift["estimated"] * 10 > 0  # the latest request's
    # the price comes back to the table's: status says nothing more of it
    control.settings(price_drift=0)
    samples.write_library(library.photos, 4, start=20)
    assert library.cli("scan", "--yes").returncode == 0
    assert "price:" not in library.cli("status").stdout
    assert library.status()["price_drift"] == []
