"""Who may use the review page, tried over real HTTP against `visionati-sync ui`: without
the token nothing is shown; a page under another Host name (DNS rebinding) is refused; a
change needs this page's CSRF token and Origin; files are reached by job id only, and only
in this config's folders; the API key is in no response; listening beyond this machine
needs a password, and then asks for it."""

from __future__ import annotations

import base64
import getpass
import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from media import jpeg
from support import Library, base_config, wait_until, write_config
from web import UiServer

SECRET_KEY = "sk-never-shown-0123456789abcdef"


def reviewed_library(library: Library, other: Path | None = None) -> None:
    jpeg(library.photos / "a.jpg", 320, 240)
    folders = [library.photos] + ([other] if other else [])
    library.configure(folders, sidecars={"apply": "review"})
    assert library.cli("scan").returncode == 0


def session(ui: UiServer) -> tuple[requests.Session, str]:
    """A browser's session: the token traded for a cookie, and the page's CSRF token."""
    browser = requests.Session()
    page = browser.get(ui.address, timeout=10)
    assert page.status_code == 200 and page.url == ui.origin + "/"
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf
    return browser, csrf.group(1)


def test_no_token_no_page(library: Library) -> None:
    reviewed_library(library)
    with UiServer(library.config, library.env) as ui:
        for path in ("/", "/dashboard", "/api/status", "/thumb/1", "/static/app.js"):
            answer = requests.get(ui.origin + path, timeout=10, allow_redirects=False)
            assert answer.status_code == 403, path
            assert "token" in answer.text
        wrong = requests.get(ui.origin + "/?token=guess", timeout=10, allow_redirects=False)
        assert wrong.status_code == 403
        assert requests.post(ui.origin + f"/api/review?token={ui.token}", json={},
                             timeout=10).status_code == 403  # fmt: skip


def test_another_host_name_is_refused(library: Library) -> None:
    reviewed_library(library)
    with UiServer(library.config, library.env) as ui:
        browser, _ = session(ui)
        cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
        port = ui.origin.rsplit(":", 1)[1]
        for host in (f"rebound.example:{port}", f"127.0.0.1:{int(port) + 1}", "127.0.0.1"):
            answer = requests.get(ui.origin + "/", headers={"Host": host, "Cookie": cookie},
                                  timeout=10)  # fmt: skip
            assert answer.status_code == 403, host
            assert "answers only to the address it was opened at" in answer.text
        named = requests.get(ui.origin + "/", headers={"Host": f"localhost:{port}",
                             "Cookie": cookie}, timeout=10)  # fmt: skip
        assert named.status_code == 200


def test_a_change_needs_the_csrf_token_and_our_origin(library: Library) -> None:
    reviewed_library(library)
    with UiServer(library.config, library.env) as ui:
        browser, csrf = session(ui)
        (job_id,) = [job["id"] for job in library.jobs().values()]
        body = {"decisions": [{"job_id": job_id, "decision": "reject"}]}
        url = ui.origin + "/api/review"
        refused = [
            browser.post(url, json=body, headers={"Origin": ui.origin}, timeout=10),
            browser.post(
                url, json=body, headers={"Origin": ui.origin, "X-CSRF-Token": "x"}, timeout=10
            ),
            browser.post(url, json=body, headers={"X-CSRF-Token": csrf}, timeout=10),
            browser.post(
                url,
                json=body,
                headers={"Origin": "http://evil.example", "X-CSRF-Token": csrf},
                timeout=10,
            ),
        ]
        assert [r.status_code for r in refused] == [403, 403, 403, 403]
        assert library.counts()["review"] == 1  # nothing changed
        done = browser.post(url, json=body, headers={"Origin": ui.origin, "X-CSRF-Token": csrf},
                            timeout=10)  # fmt: skip
        assert done.status_code == 200 and done.json() == {"results": {str(job_id): "rejected"}}
        assert library.counts()["untagged"] == 1
    # the decision is on record: what, by whom, when
    with sqlite3.connect(library.tmp / "state.db") as db:
        decision, by, at = db.execute(
            "SELECT decision, decided_by, decided_at FROM reviews WHERE job_id = ?", (job_id,)
        ).fetchone()
    assert (decision, by) == ("reject", f"{getpass.getuser()} (review page)")
    when = datetime.fromisoformat(at).replace(tzinfo=UTC)  # stored as naive UTC
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=5)


def test_files_by_job_id_of_this_configs_folders_only(library: Library) -> None:
    other = library.tmp / "elsewhere"
    other.mkdir()
    jpeg(other / "theirs.jpg", 300, 200)
    reviewed_library(library, other)  # one job table, two folders
    jobs = library.jobs()
    library.configure([library.photos], sidecars={"apply": "review"})  # the page's: one
    with UiServer(library.config, library.env) as ui:
        browser, _ = session(ui)
        ours = browser.get(f"{ui.origin}/thumb/{jobs['a.jpg']['id']}", timeout=30)
        assert ours.status_code == 200 and ours.headers["content-type"] == "image/jpeg"
        theirs = browser.get(f"{ui.origin}/thumb/{jobs['theirs.jpg']['id']}", timeout=30)
        assert theirs.status_code == 404
        for path in ("/thumb/9999", "/thumb/..%2F..%2Fetc%2Fpasswd", "/thumb/%2Fetc%2Fpasswd",
                     f"/thumb/{other}/theirs.jpg", "/static/..%2F__init__.py"):  # fmt: skip
            assert browser.get(ui.origin + path, timeout=10).status_code == 404, path
        assert "theirs.jpg" not in browser.get(ui.origin + "/", timeout=10).text


def test_the_key_is_in_no_response(library: Library) -> None:
    reviewed_library(library)
    write_config(library.config, base_config(
        library.url, library.tmp, [library.photos], api={"key": SECRET_KEY},
        sidecars={"apply": "review"},
    ))  # fmt: skip
    with UiServer(library.config, library.env) as ui:
        browser, _ = session(ui)
        (job_id,) = [job["id"] for job in library.jobs().values()]
        for path in ("/", "/dashboard", "/api/status", "/static/app.js", f"/thumb/{job_id}"):
            answer = browser.get(ui.origin + path, timeout=30)
            assert answer.status_code == 200, path
            assert SECRET_KEY.encode() not in answer.content, path
            assert "Content-Security-Policy" in answer.headers


def test_beyond_this_machine_only_with_a_password(library: Library) -> None:
    reviewed_library(library)
    refused = subprocess.run(
        [sys.executable, "-m", "visionati_sync", "-c", str(library.config), "ui",
         "--listen", "0.0.0.0:0"], capture_output=True, text=True, env=library.env, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "beyond this machine, with no password: set ui.password_file" in refused.stderr
    password = library.tmp / "ui-password"
    password.write_text("correct horse\n")
    library.configure(sidecars={"apply": "review"}, ui={"password_file": str(password)})
    with UiServer(library.config, library.env) as ui:
        # (it listens on 127.0.0.1 here; a password is then asked for all the same)
        answer = requests.get(ui.address, timeout=10)
        assert answer.status_code == 401 and "Basic" in answer.headers["WWW-Authenticate"]
        good = base64.b64encode(b"ann:correct horse").decode()
        bad = base64.b64encode(b"ann:wrong").decode()
        assert requests.get(ui.address, headers={"Authorization": f"Basic {bad}"},
                            timeout=10).status_code == 401  # fmt: skip
        assert requests.get(ui.address, headers={"Authorization": f"Basic {good}"},
                            timeout=10).status_code == 200  # fmt: skip


def test_the_daemon_serves_the_pages_with_ui_listen(library: Library) -> None:
    library.configure(ui={"listen": "127.0.0.1:0"})
    with library.daemon() as daemon:
        (served,) = wait_until(lambda: daemon.logged("review page and dashboard served"), 30)
        address = served["address"]
        state = Path(library.env["XDG_STATE_HOME"]) / "visionati-sync" / "ui-address"
        assert state.read_text().strip() == address and state.stat().st_mode & 0o777 == 0o600
        jpeg(library.photos / "a.jpg", 320, 240)
        library.wait_for("done", 1)
        browser = requests.Session()
        assert browser.get(address, timeout=10).status_code == 200
        status = browser.get(address.split("/?")[0] + "/api/status", timeout=10).json()
        assert status["counts"] == library.counts()


def children(pid: int) -> list[str]:
    """The commands of a process's children (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_accepting_with_embedding_writes_inside_and_leaves_no_exiftool(library: Library) -> None:
    photo = jpeg(library.photos / "a.jpg", 320, 240)
    library.configure(sidecars={"apply": "review", "embed": True})
    assert library.cli("scan").returncode == 0
    with UiServer(library.config, library.env) as ui:
        browser, csrf = session(ui)
        (job_id,) = [job["id"] for job in library.jobs().values()]
        body = {"decisions": [{"job_id": job_id, "decision": "accept", "kept": None}]}
        done = browser.post(ui.origin + "/api/review", json=body, timeout=60,
                            headers={"Origin": ui.origin, "X-CSRF-Token": csrf})  # fmt: skip
        assert done.json() == {"results": {str(job_id): "written"}}
        assert not [c for c in children(ui.process.pid) if "exiftool" in c]
    keywords = subprocess.run(["exiftool", "-s3", "-XMP-dc:Subject", str(photo)],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert keywords.strip()


def test_the_review_page_filters_by_folder_date_and_word(library: Library) -> None:
    other = library.tmp / "trip"
    other.mkdir()
    jpeg(library.photos / "a.jpg", 320, 240)
    jpeg(library.photos / "b.jpg", 300, 200)
    old = jpeg(other / "c.jpg", 280, 210)
    os.utime(old, (946684800, 946684800))  # 2000-01-01
    library.configure([library.photos, other], sidecars={"apply": "review"})
    assert library.cli("scan").returncode == 0
    with UiServer(library.config, library.env) as ui:
        browser, _ = session(ui)

        def names(**query: str) -> list[str]:
            page = browser.get(ui.origin + "/", params=query, timeout=30).text
            return sorted(re.findall(r'<article class="card"[^>]*aria-label="([^"]+)"', page))

        assert names() == ["a.jpg", "b.jpg", "c.jpg"]
        assert names(folder=str(other)) == ["c.jpg"]
        assert names(since="2020-01-01") == ["a.jpg", "b.jpg"]
        page = browser.get(ui.origin + "/", timeout=30).text
        cards = re.findall(r'<article class="card"[^>]*aria-label="([^"]+)">(.*?)</article>',
                           page, re.S)  # fmt: skip
        words = {name: set(re.findall(r'data-word="([^"]+)"', card)) for name, card in cards}
        word = sorted(words["a.jpg"])[0]
        assert names(word=word) == sorted(n for n, w in words.items() if word in w)
        assert names(word="no-such-word-here") == []


def test_words_of_the_users_vocabulary_are_set_apart_from_new_ones(library: Library) -> None:
    reviewed_library(library)
    with UiServer(library.config, library.env) as ui:
        browser, _ = session(ui)
        words = re.findall(r'data-word="([^"]+)"', browser.get(ui.origin + "/", timeout=30).text)
    assert len(words) >= 2
    vocabulary = library.tmp / "keywords.txt"
    vocabulary.write_text(f"Things|{words[0]}\n")  # one path a line
    library.configure(sidecars={"apply": "review"}, keywords={"vocabulary": str(vocabulary)})
    with UiServer(library.config, library.env) as ui:
        browser, _ = session(ui)
        page = browser.get(ui.origin + "/", timeout=30).text
    found = re.findall(r'class="chip (known|new)"[^>]*data-key="([^"]+)"', page)
    kinds = {key: kind for kind, key in found}
    assert kinds[f"things|{words[0]}"] == "known"
    assert all(kind == "new" for key, kind in kinds.items() if key != f"things|{words[0]}")
