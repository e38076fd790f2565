"""The review page and the dashboard in a real headless Chromium: a scan in review mode of a
HEIC, a RAW, a video and three JPEGs (one with the user's digiKam sidecar); the reviewer
rejects one photo, removes a chip, edits a description, excludes a word for good and accepts
the rest; exiftool then reads exactly what was approved; a copy of a photo with the excluded
word does not get it; the same by keyboard alone; the dashboard shows `status --json`'s
counts and the ledger's credits. A screenshot of each page is kept in test-artifacts/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from media import heic, jpeg, sample, samples, sha256, video
from readers import as_list, exiftool
from support import EmulatorControl, Library, wait_until
from web import UiServer, screenshot

DIGIKAM = Path(__file__).parent / "data" / "xmp" / "digikam.xmp"


def library_in_review(library: Library) -> dict[str, Path]:
    photos = library.photos
    made = {
        "phone.heic": heic(photos / "phone.heic"),
        "clip.mp4": video(photos / "clip.mp4", 2),
        "a.jpg": jpeg(photos / "a.jpg", 640, 480),
        "b.jpg": jpeg(photos / "b.jpg", 600, 400),
        "family.jpg": jpeg(photos / "family.jpg", 500, 500),
    }
    if samples():  # a camera's RAW, read in place elsewhere, copied into the test's folder
        made["camera.dng"] = Path(shutil.copy(sample("canon_eos_6d.dng"), photos / "camera.dng"))
    shutil.copy(DIGIKAM, photos / "family.jpg.xmp")  # the user's own sidecar, from digiKam
    library.configure(
        sidecars={"apply": "review"}, keywords={"exclude_file": str(library.tmp / "never.txt")}
    )
    result = library.cli("scan", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert library.counts()["review"] == len(made)
    return made


def chips(card: Any) -> list[str]:
    return [c.get_attribute("data-word") for c in card.locator(".chip").all()]


def subject(path: Path) -> set[str]:
    return set(as_list(exiftool(path)[path].get("XMP-dc:Subject")))


def test_review_in_the_browser_writes_exactly_what_was_approved(
    library: Library, browser: Any
) -> None:
    made = library_in_review(library)
    before = (library.photos / "family.jpg.xmp").read_bytes()
    with UiServer(library.config, library.env) as ui:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(ui.address)
        assert page.url == ui.origin + "/"  # the token became a cookie; the address bar drops it
        cards = page.locator(".card")
        assert cards.count() == len(made)
        loaded = "[...document.querySelectorAll('.card img')].every(i => i.naturalWidth > 0)"
        wait_until(lambda: page.evaluate(loaded), 60, 0.2, "every thumbnail")
        family = page.locator('.card[aria-label="family.jpg"]')
        assert family.locator(".mine").all_inner_texts() == ["family", "Oma"]  # the user's
        screenshot(page, "review")

        family.locator(".reject").click()  # 1. reject one photo
        a = page.locator('.card[aria-label="a.jpg"]')
        removed = chips(a)[0]
        a.locator(".chip").first.click()  # 2. remove a chip
        b = page.locator('.card[aria-label="b.jpg"]')
        b.locator("textarea").fill("Two colours, side by side.")  # 3. edit a description
        phone = page.locator('.card[aria-label="phone.heic"]')
        never = next(w for w in chips(phone) if w != removed)
        page.fill("#bulk-word", never)  # 4. never this word again
        page.click("#never-word")
        wait_until(lambda: "will not be written again" in page.inner_text("#said"), 10)
        shown = {card: chips(page.locator(f'.card[aria-label="{card}"]')) for card in made}
        page.click("#accept-page")  # 5. accept the rest
        wait_until(lambda: page.locator(".card.decided").count() == len(made), 120, 0.2)
        outcomes = dict(zip(
            page.locator(".card").evaluate_all("cs => cs.map(c => c.getAttribute('aria-label'))"),
            page.locator(".card .outcome").all_inner_texts(), strict=True,
        ))  # fmt: skip
        assert outcomes == {
            name: "rejected" if name == "family.jpg" else "written" for name in made
        }

        # what exiftool reads is what was approved, nothing else
        assert (library.photos / "family.jpg.xmp").read_bytes() == before  # rejected: untouched
        for name in made:
            if name == "family.jpg":
                continue
            sidecar = library.photos / f"{name}.xmp"
            hidden = {never}
            expected = {w for w in shown[name] if w not in hidden}
            if name == "a.jpg":
                expected.discard(removed)
            assert {w.lower() for w in subject(sidecar)} == expected, name
        tags = exiftool(library.photos / "b.jpg.xmp")[library.photos / "b.jpg.xmp"]
        assert tags["XMP-dc:Description"] == "Two colours, side by side."
        assert library.jobs()["family.jpg"]["error"] == "rejected in review"
        assert never in (library.tmp / "never.txt").read_text().split()

        # a photo with the excluded word, found later (a copy: its result comes from the
        # cache, and holds that word): the word is not proposed, nor written
        shutil.copy(made["phone.heic"], library.photos / "phone-copy.heic")
        shutil.copy(made["a.jpg"], library.photos / "a-copy.jpg")
        assert library.cli("scan").returncode == 0
        page.goto(ui.origin + "/")
        assert page.locator(".card").count() == 2
        copy = page.locator('.card[aria-label="phone-copy.heic"]')
        assert never not in chips(copy) and set(chips(copy)) == set(shown["phone.heic"]) - {never}

        # the keyboard alone: the first card has the focus; 1 toggles its first chip, e
        # edits the description, Escape comes back, a accepts and moves on; x rejects
        first = page.locator(".card").first
        first_name = first.get_attribute("aria-label")
        off = chips(first)[0]
        page.keyboard.press("1")
        page.keyboard.press("e")
        page.keyboard.press("Control+A")
        page.keyboard.type("Typed, not clicked.")
        page.keyboard.press("Escape")
        page.keyboard.press("a")
        page.keyboard.press("x")
        wait_until(lambda: page.locator(".card.decided").count() == 2, 60, 0.2)
        second_name = page.locator(".card").nth(1).get_attribute("aria-label")
        sidecar = library.photos / f"{first_name}.xmp"
        tags = exiftool(sidecar)[sidecar]
        assert tags["XMP-dc:Description"] == "Typed, not clicked."
        assert off not in {w.lower() for w in subject(sidecar)}
        assert not (library.photos / f"{second_name}.xmp").exists()  # rejected: nothing
        assert library.jobs()[second_name]["error"] == "rejected in review"

        # the dashboard: the counts `status --json` gives, the ledger's credits
        page.goto(ui.origin + "/dashboard")
        status = library.json("status")
        wait_until(lambda: page.get_attribute("body", "data-refreshed"), 10)
        for state, count in status["counts"].items():
            assert page.inner_text(f'[data-field="counts.{state}"]') == str(count), state
        assert page.inner_text('[data-field="credits_spent.total"]') == str(
            status["credits_spent"]["total"]
        )
        costs = library.json("costs")
        days = page.locator(".days td").all_inner_texts()
        assert sum(int(d) for d in days) == costs["total"]["credits"] > 0
        screenshot(page, "dashboard")


def test_acceptance_per_keyword_is_counted(library: Library, browser: Any) -> None:
    library_in_review(library)
    with UiServer(library.config, library.env) as ui:
        page = browser.new_page()
        page.goto(ui.address)
        card = page.locator('.card[aria-label="a.jpg"]')
        words = chips(card)
        card.locator(".chip").first.click()
        card.locator(".accept").click()
        wait_until(lambda: page.locator(".card.decided").count() == 1, 60, 0.2)
        page.reload()
        rows = dict(
            zip(page.locator(".acceptance td:nth-child(1)").all_inner_texts(),
                page.locator(".acceptance td:nth-child(2)").all_inner_texts(), strict=True)
        )  # fmt: skip
        assert rows[words[0]] == "0 / 1"  # the least accepted first: worth excluding
        assert all(rows[w] == "1 / 1" for w in words[1:])
        assert next(iter(rows)) == words[0]


def test_bulk_tools_and_retry_from_the_dashboard(
    library: Library, browser: Any, control: EmulatorControl
) -> None:
    """Keep only chips over a score, leave one word out across the page; a failed file is
    put back in the queue from the dashboard."""
    made = library_in_review(library)
    poison = jpeg(library.photos / "poison.jpg", 333, 222)
    control.faults({"poison": sha256(poison), "fail_request": "Request failed: cannot process"})
    library.configure(
        api={"max_attempts": 1}, sidecars={"apply": "review"},
        keywords={"exclude_file": str(library.tmp / "never.txt")},
    )  # fmt: skip
    assert library.cli("scan").returncode == 1  # the poison failed
    with UiServer(library.config, library.env) as ui:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(ui.address)
        scores = {
            name: dict(zip(chips(page.locator(f'.card[aria-label="{name}"]')),
                           map(float, page.locator(f'.card[aria-label="{name}"] .chip')
                               .evaluate_all("cs => cs.map(c => c.dataset.score)")), strict=True))
            for name in made
        }  # fmt: skip
        word = next(iter(scores["a.jpg"]))
        page.fill("#threshold", "0.97")
        page.click("#apply-threshold")
        page.fill("#bulk-word", word)
        page.click("#remove-word")
        page.click("#accept-page")
        wait_until(lambda: page.locator(".card.decided").count() == len(made), 120, 0.2)
        for name, chip_scores in scores.items():
            if name == "family.jpg":
                continue  # its sidecar is the user's too
            kept = {w for w, score in chip_scores.items() if score >= 0.97 and w != word}
            assert {w.lower() for w in subject(library.photos / f"{name}.xmp")} == kept, name

        page.goto(ui.origin + "/dashboard")
        failed = page.locator(".failed li[data-job]")
        assert failed.count() == 1 and "poison.jpg" in failed.inner_text()
        failed.locator(".retry").click()
        wait_until(lambda: failed.locator(".outcome").inner_text() == "queued again", 10)
        assert library.jobs()["poison.jpg"]["state"] == "pending"
        wait_until(lambda: page.inner_text('[data-field="counts.pending"]') == "1", 10)
