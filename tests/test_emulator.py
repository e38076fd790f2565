"""The emulator keeps the documented contract (the daemon's tests rely on it)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import socket
from pathlib import Path

import pytest
import requests

import media
from support import KEY, EmulatorControl, wait_until
from visionati_sync.devtools import samples
from visionati_sync.devtools.emulator import (
    SYNTHETIC_NOTE,
    Emulator,
    EmulatorSettings,
    synthesize_asset,
)

HEADERS = {"X-API-Key": f"Token {KEY}"}


def post(
    emulator: Emulator, body: dict[str, object], headers: dict[str, str] = HEADERS
) -> requests.Response:
    return requests.post(f"{emulator.url}/api/fetch", json=body, headers=headers, timeout=10)


def test_results_are_deterministic_per_bytes_and_clearly_synthetic() -> None:
    fields = {"feature": ["tags", "descriptions"], "backend": ["clarifai", "openai"]}
    a = synthesize_asset("a.jpg", samples.jpeg(1), fields)
    assert a == synthesize_asset("a.jpg", samples.jpeg(1), fields)
    assert a != synthesize_asset("a.jpg", samples.jpeg(2), fields)
    assert SYNTHETIC_NOTE in a["descriptions"][0]["description"]
    assert {d["source"] for tag in a["tags"].values() for d in tag} == {"clarifai"}


def test_credits_go_down_per_image_and_run_out(
    emulator: Emulator, control: EmulatorControl
) -> None:
    control.settings(credits=7)
    file = base64.b64encode(samples.jpeg(1)).decode()
    body = {
        "file": [file, file],
        "file_name": ["a.jpg", "b.jpg"],
        "feature": ["tags", "nsfw", "descriptions"],
        "backend": ["clarifai", "openai"],
    }
    assert post(emulator, body).json()["status"] == "queued"  # 2 × 3 credits
    assert post(emulator, body).json() == {"error": "Insufficient credits."}
    control.settings(credits=0)
    assert post(emulator, body).json() == {"error": "No credits."}


def test_documented_errors(emulator: Emulator) -> None:
    assert post(emulator, {}, headers={"X-API-Key": "Token nope"}).json() == {
        "error": "Access denied."
    }
    assert post(emulator, {}).json() == {"error": "File/URL params are required."}
    raw = requests.post(f"{emulator.url}/api/fetch", data=b"{nope", headers=HEADERS, timeout=10)
    assert raw.json() == {"error": "Invalid request format."}
    big = base64.b64encode(b"\xff\xd8\xff" + b"\0" * (20 * 1024 * 1024)).decode()
    assert post(emulator, {"file": big}).json() == {"error": "File too large. Max 20MB."}
    missing = requests.get(f"{emulator.url}/api/response/nope", headers=HEADERS, timeout=10)
    assert missing.json() == {"error": "Request ID nope not found."}


def test_one_url_is_answered_at_once(emulator: Emulator) -> None:
    answer = post(emulator, {"url": "https://example.com/a.jpg", "feature": "tags"}).json()
    assert answer["status"] == "completed"
    assert answer["all"]["assets"][0]["name"] == "https://example.com/a.jpg"


def test_results_expire(emulator: Emulator, control: EmulatorControl) -> None:
    control.settings(queued_polls=0, processing_polls=0, expire_seconds=0)
    first = post(emulator, {"file": base64.b64encode(samples.png(1)).decode()}).json()
    url = first["response_uri"]
    assert requests.get(url, headers=HEADERS, timeout=10).json()["status"] == "completed"
    assert "not found" in requests.get(url, headers=HEADERS, timeout=10).json()["error"]


def test_log_records_what_was_uploaded(emulator: Emulator, control: EmulatorControl) -> None:
    data = samples.png(5)
    post(emulator, {"file": [base64.b64encode(data).decode()], "file_name": ["x.png"]})
    (entry,) = control.uploads()
    assert entry["file_names"] == ["x.png"]
    assert entry["sha256"] == [hashlib.sha256(data).hexdigest()]


def test_names_can_come_back_rewritten_and_assets_shuffled(
    emulator: Emulator, control: EmulatorControl
) -> None:
    """What the live API may do to names (its documentation only says results can come back
    on the wrong image): the emulator can do one such thing, and answer in any order."""
    control.settings(queued_polls=0, processing_polls=0, rewrite_names=True, seed=3)
    names = ["IMG 0001 (1).jpg", "café.jpg", "a&b#c.jpg", "plain-name_1.jpg"]
    blobs = [base64.b64encode(samples.jpeg(n)).decode() for n in range(4)]
    first = post(emulator, {"file": blobs, "file_name": names}).json()
    answer = requests.get(first["response_uri"], headers=HEADERS, timeout=10).json()
    back = [asset["name"] for asset in answer["all"]["assets"]]
    assert sorted(back) == sorted(["IMG_0001__1_.jpg", "caf_.jpg", "a_b_c.jpg", "plain-name_1.jpg"])
    assert control.requests()[0]["file_names"] == names  # the log keeps what was sent
    control.settings(shuffle_assets=True)
    orders = set()
    for _ in range(6):
        sent = post(emulator, {"file": blobs, "file_name": names}).json()
        got = requests.get(sent["response_uri"], headers=HEADERS, timeout=10).json()
        orders.add(tuple(asset["name"] for asset in got["all"]["assets"]))
    assert len(orders) > 1  # not one fixed order


def test_formats_the_api_s_clients_never_send_are_refused_in_all_errors(
    emulator: Emulator, control: EmulatorControl, tmp_path: Path
) -> None:
    """So that a test that tags a HEIC proves it was converted: sent as it is, it fails."""
    control.settings(queued_polls=0, processing_polls=0)
    heic = media.heic(tmp_path / "IMG_1.heic", 64, 48).read_bytes()
    tiff = media.tiff(tmp_path / "scan.tif", 64, 48).read_bytes()
    files = [heic, tiff, samples.jpeg(1)]
    body = {"file": [base64.b64encode(f).decode() for f in files],
            "file_name": ["IMG_1.heic", "scan.tif", "ok.jpg"], "feature": ["tags"],
            "backend": ["clarifai"]}  # fmt: skip
    request_id = post(emulator, body).json()["request_id"]
    answer = requests.get(f"{emulator.url}/api/response/{request_id}", headers=HEADERS,
                          timeout=10).json()  # fmt: skip
    assert [a["name"] for a in answer["all"]["assets"]] == ["ok.jpg"]
    assert answer["all"]["errors"] == [
        {"name": "IMG_1.heic", "error": "Unsupported file format."},
        {"name": "scan.tif", "error": "Unsupported file format."},
    ]
    (entry,) = control.uploads()
    assert [f["format"] for f in entry["files"]] == [None, None, "jpeg"]
    assert entry["files"][2]["width"] == 8


def test_videos_are_charged_per_frame_analysed(
    emulator: Emulator, control: EmulatorControl, tmp_path: Path
) -> None:
    clip = base64.b64encode(media.video(tmp_path / "clip.mp4", 10).read_bytes()).decode()
    base = {"file": clip, "file_name": "clip.mp4", "feature": ["tags"], "backend": ["clarifai"]}
    for fields, frames in (({}, 3), ({"capture_interval": 4}, 3), ({"capture_interval": 4,
                           "max_frames": 10}, 3), ({"max_frames": 0}, 10),
                           ({"capture_interval": 6, "max_frames": 10}, 2)):  # fmt: skip
        before = control.settings()["credits"]
        post(emulator, {**base, **fields})
        assert before - control.settings()["credits"] == frames, fields  # a credit a frame
    assert {f["format"] for e in control.uploads() for f in e["files"]} == {"mp4"}


def test_the_control_api_answers_only_clients_on_this_machine() -> None:
    """Bound to every address, the emulator still takes faults and settings only from
    loopback: anyone else on the network gets the API, not its controls."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        address = probe.getsockname()[0]
    except OSError:
        address = "127.0.0.1"
    finally:
        probe.close()
    if ipaddress.ip_address(address).is_loopback:
        pytest.skip("this machine has no address other than loopback")
    server = Emulator(EmulatorSettings(), host="0.0.0.0").start()  # noqa: S104
    port = server.url.rsplit(":", 1)[1]
    try:
        outside = requests.post(
            f"http://{address}:{port}/_emulator/settings", json={"credits": 0}, timeout=10
        )
        assert outside.status_code == 403
        inside = requests.get(f"http://127.0.0.1:{port}/_emulator/state", timeout=10)
        assert inside.json()["settings"]["credits"] == 100_000  # unchanged
        api = requests.get(f"http://{address}:{port}/api/credits", headers=HEADERS, timeout=10)
        assert api.json() == {"credits": 100_000}
    finally:
        server.stop()


def poll_status(emulator: Emulator, request_id: str) -> object:
    url = f"{emulator.url}/api/response/{request_id}"
    return requests.get(url, headers=HEADERS, timeout=10).json().get("status")


def test_faults_at_a_rate_strike_that_often_and_the_same_way_for_a_seed(
    emulator: Emulator, control: EmulatorControl
) -> None:
    def run() -> list[int]:
        control.settings(seed=7)
        control.faults({"method": "GET", "path": "/api/credits", "rate": 0.3,
                        "status": 503, "body": "busy"})  # fmt: skip
        codes = [
            requests.get(f"{emulator.url}/api/credits", headers=HEADERS, timeout=10).status_code
            for _ in range(200)
        ]
        requests.post(f"{emulator.url}/_emulator/faults", json={"clear": True}, timeout=10)
        return codes

    first, second = run(), run()
    assert first == second  # reproducible
    assert 40 <= first.count(503) <= 80 and set(first) == {200, 503}


def test_an_outage_ends_when_its_window_does(emulator: Emulator, control: EmulatorControl) -> None:
    control.faults({"method": "GET", "path": "/api/credits", "rate": 1.0, "for_seconds": 1.0,
                    "status": 500, "body": "down"})  # fmt: skip
    get = lambda: requests.get(f"{emulator.url}/api/credits", headers=HEADERS, timeout=10)  # noqa: E731
    assert get().status_code == 500
    wait_until(lambda: get().status_code == 200, 5, 0.1, "the outage to end")


def test_a_poison_file_fails_every_request_that_holds_it(
    emulator: Emulator, control: EmulatorControl
) -> None:
    control.settings(queued_polls=0, processing_polls=0)
    poison, good = samples.jpeg(1), samples.jpeg(2)
    control.faults({"poison": hashlib.sha256(poison).hexdigest(),
                    "fail_request": "Request failed: cannot process image"})  # fmt: skip
    encode = lambda data: base64.b64encode(data).decode()  # noqa: E731
    with_it = post(emulator, {"file": [encode(good), encode(poison)]}).json()["request_id"]
    without = post(emulator, {"file": [encode(good)]}).json()["request_id"]
    again = post(emulator, {"file": [encode(poison)]}).json()["request_id"]
    assert [poll_status(emulator, r) for r in (with_it, without, again)] == [
        "failed", "completed", "failed",
    ]  # fmt: skip
