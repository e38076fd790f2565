"""Where the credits went: what the API charged against what the price table says."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

from support import EmulatorControl, Library, wait_until
from visionati_sync.devtools import samples


def media_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def test_the_ledger_adds_up_to_what_the_api_charged_by_day_folder_and_options(
    library: Library, control: EmulatorControl, tmp_path: Path
) -> None:
    control.settings(queued_polls=0, processing_polls=0)
    photos, shop = library.photos, tmp_path / "shop"
    samples.write_library(photos, 12)
    samples.write_library(shop, 5, start=12)
    library.configure(
        [{"path": str(photos)},
         {"path": str(shop), "api": {"backends": ["openai"], "features": ["descriptions"]}}],
        api={"max_credits_per_day": 5000, "max_credits_total": 90000},
    )  # fmt: skip
    assert library.cli("scan", "--yes").returncode == 0
    uploads = control.uploads()
    charged = sum(entry["credits"] for entry in uploads)
    in_shop = {media_sha(path) for path in shop.iterdir() if path.suffix != ".xmp"}
    shop_charged = sum(e["credits"] for e in uploads if set(e["sha256"]) <= in_shop)
    assert 0 < shop_charged < charged
    for by in ("day", "folder", "options"):
        report = library.json("costs", "--by", by)
        assert sum(line["credits"] for line in report["lines"]) == charged, by
        assert report["total"]["credits"] == charged and report["total"]["files"] == 17
        assert report["total"]["dollars"] == round(charged / 100, 2)
    folders = {line["key"]: line for line in library.json("costs", "--by", "folder")["lines"]}
    assert folders[str(shop)]["credits"] == shop_charged and folders[str(shop)]["files"] == 5
    assert folders[str(photos)]["credits"] == charged - shop_charged
    options = library.json("costs", "--by", "options")["lines"]
    assert sorted(line["label"] for line in options) == [
        "descriptions with openai", "tags+descriptions with the default backends",
    ]  # fmt: skip
    text = library.cli("costs", "--by", "folder").stdout
    assert str(shop) in text and f"${charged / 100:,.2f}" in text
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert library.json("costs", "--since", tomorrow)["total"]["credits"] == 0
    status = library.cli("status").stdout
    assert f"credits spent: {charged:,} today (of 5,000 a day), {charged:,} in all (of 90,000)" in (
        status
    )


def test_status_and_costs_count_a_request_still_open_the_same_way(
    library: Library, control: EmulatorControl
) -> None:
    control.settings(queued_polls=100_000)  # the API holds every request
    samples.write_library(library.photos, 12)
    library.configure(api={"batch_size": 4})
    with library.daemon() as daemon:
        wait_until(lambda: len(control.uploads()) == 3, 30, 0.2, "three requests sent")
        wait_until(lambda: library.counts()["submitted"] == 12, 30, 0.2, "recorded")
        spent = library.status()["credits_spent"]
        costs = library.json("costs")
        assert spent["open"] == spent["total"] == spent["today"] == 108
        assert costs["total"]["credits"] == 108
        daemon.stop()
