from __future__ import annotations

from visionati_sync.watcher import Settler


class FakeFiles:
    def __init__(self) -> None:
        self.now = 0.0
        self.sizes: dict[str, int] = {}

    def stat(self, path: str) -> tuple[int, int] | None:
        size = self.sizes.get(path)
        return None if size is None else (size, 1000 + size)


def make() -> tuple[FakeFiles, Settler]:
    files = FakeFiles()
    return files, Settler(2.0, clock=lambda: files.now, stat=files.stat)


def test_a_file_is_ready_only_after_it_stops_changing() -> None:
    files, settler = make()
    files.sizes["/f/a.jpg"] = 10
    settler.touch("/f", "a.jpg")
    for step in range(10):  # grows every second: never ready
        files.now += 1
        files.sizes["/f/a.jpg"] += 10
        assert settler.ready() == ([], []), step
    files.now += 1
    assert settler.ready()[0] == []  # first quiet look starts the clock
    files.now += 2
    complete, _ = settler.ready()
    assert [(folder, seen.relpath, seen.size) for folder, seen in complete] == [
        ("/f", "a.jpg", 110)
    ]
    assert len(settler) == 0


def test_a_busy_path_never_holds_back_a_quiet_one() -> None:
    files, settler = make()
    files.sizes |= {"/f/busy.jpg": 1, "/f/quiet.jpg": 5}
    settler.touch("/f", "quiet.jpg")
    ready = []
    for _ in range(8):
        settler.touch("/f", "busy.jpg")  # an event storm on one path
        files.now += 0.5
        ready += [seen.relpath for _, seen in settler.ready()[0]]
    assert ready == ["quiet.jpg"]


def test_a_file_that_vanishes_is_reported_and_forgotten() -> None:
    _, settler = make()
    settler.touch("/f", "gone.jpg")
    assert settler.ready() == ([], [("/f", "gone.jpg")])
    assert len(settler) == 0
