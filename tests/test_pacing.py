"""When requests are polled: the first poll when the API is likely done, learnt from recent
requests; never two polls of a request less than a second apart. Driven by a simulated API
of known latency: no clock, no network."""

from __future__ import annotations

import itertools
import random
import statistics

from visionati_sync.api.pacing import PollPacer


def run(pacer: PollPacer, latencies: list[float], options: str = "o") -> list[list[float]]:
    """Each request's poll times (seconds after sending), as the pacer schedules them
    against an API that answers each after its latency."""
    polls = []
    for n, latency in enumerate(latencies):
        times = [pacer.first_poll(options)]
        while times[-1] < latency:
            times.append(times[-1] + pacer.not_done(str(n), options, times[-1]))
        pacer.completed(str(n), options, times[-1])
        polls.append(times)
    return polls


def test_the_first_poll_comes_when_the_api_is_done_not_a_poll_interval_later() -> None:
    pacer = PollPacer(interval=5.0)
    polls = run(pacer, [1.6] * 60)
    assert polls[0] == [1.0, 6.0]  # nothing known yet: a second, then the configured interval
    late = [times[-1] - 1.6 for times in polls[30:]]
    assert statistics.mean(late) < 0.5 and max(late) <= 1.0  # against 3.4 s at a fixed 5 s
    for times in polls:
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


def test_a_slow_api_is_polled_less_and_an_uneven_one_still_promptly() -> None:
    fixed = PollPacer(interval=2.0)
    slow = run(fixed, [9.0] * 40)
    assert len(slow[-1]) <= 2  # once the pace is known: when it is due, not every 2 s
    rng = random.Random(7)
    uneven = run(PollPacer(interval=2.0), [rng.uniform(2.0, 4.0) for _ in range(80)])
    waits = [times[-1] for times in uneven[40:]]
    assert statistics.mean(waits) < 3.0 + 1.0  # the mean latency is 3 s


def test_options_learn_apart_and_a_low_interval_is_the_users_call() -> None:
    pacer = PollPacer(interval=0.2)
    run(pacer, [0.5] * 30, "descriptions")
    assert pacer.first_poll("tags") == 0.2  # nothing learnt for these options: the floor
    assert 0.2 <= pacer.first_poll("descriptions") <= 0.8
    assert pacer.not_done("r", "descriptions", 0.3) == 0.2  # below a second, as configured


def test_requests_held_up_by_an_outage_of_the_job_table_teach_nothing() -> None:
    """After the job table was away for 12 s, the requests sent before it came back are
    found done late: learnt from, they would put every later first poll seconds after the
    API is done."""
    now = [100.0]
    pacer = PollPacer(interval=2.0, clock=lambda: now[0])
    run(pacer, [1.5] * 20)
    before = pacer.first_poll("o")
    for n in range(8):  # sent before the outage, found done once it is over
        pacer.not_done(f"late{n}", "o", 1.0)
    now[0] += 14
    pacer.disturbed()
    for n in range(8):
        pacer.completed(f"late{n}", "o", 13.0)
    assert pacer.first_poll("o") == before  # learnt nothing from them
    now[0] += 1
    pacer.completed("after", "o", 1.5 / 0.5)  # one sent since: learnt (as a probe's half)
    assert pacer.expected("o") is not None
