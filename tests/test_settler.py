from __future__ import annotations

from visionati_sync.pipeline.watcher import Settler


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
        assert settler.ready() == [], step
    files.now += 1
    assert settler.ready() == []  # first quiet look starts the clock
    files.now += 2
    complete = settler.ready()
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
        ready += [seen.relpath for _, seen in settler.ready()]
    assert ready == ["quiet.jpg"]


def test_a_file_that_vanishes_is_forgotten() -> None:
    _, settler = make()
    settler.touch("/f", "gone.jpg")
    assert settler.ready() == []
    assert len(settler) == 0


def test_a_file_that_never_stops_changing_is_taken_after_the_maximum_wait() -> None:
    now = [0.0]
    size = [1]
    settler = Settler(2.0, clock=lambda: now[0], stat=lambda _: (size[0], size[0]), max_wait=10.0)
    taken_at = []
    for _ in range(30):
        settler.touch("/f", "log.jpg")  # written to every half second
        size[0] += 1
        now[0] += 0.5
        taken_at += [now[0] for _ in settler.ready()]
    assert len(taken_at) == 1 and 10.0 <= taken_at[0] <= 10.5


def test_files_taken_still_count_until_they_are_queued() -> None:
    """A scan ends when nothing settles and nothing waits in the table: a file between the
    settler and its row must count as settling, or the scan ends without it."""
    files, settler = make()
    files.sizes["/f/a.jpg"] = 10
    settler.touch("/f", "a.jpg")
    files.now += 1
    assert settler.ready() == []
    files.now += 2
    with settler.taking() as complete:
        assert [seen.relpath for _, seen in complete] == ["a.jpg"]
        assert len(settler) == 1  # handed out, not queued yet
    assert len(settler) == 0
