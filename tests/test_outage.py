"""What waiting for the job table means, as decisions: said once per state, a rest that
grows as the outage goes on (and stays under a third of a lease), and a lease's grace after
it before another daemon's work is taken back."""

from __future__ import annotations

from visionati_sync.rules.outage import Outage


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_said_once_per_state_and_once_when_it_ends() -> None:
    ticks = Ticks()
    outage = Outage(ticks)
    assert outage.trouble("refused (port 5432)", "unreachable")
    assert not outage.trouble("server closed the connection", "unreachable")  # the same state
    assert outage.trouble("cannot execute UPDATE in a read-only transaction", "read-only")
    assert outage.reason == "cannot execute UPDATE in a read-only transaction"
    ticks.now += 12
    assert outage.cleared() == 12
    assert outage.cleared() is None and outage.reason is None
    assert outage.trouble("some error", "") and not outage.trouble("some error", "")


def test_a_stage_rests_longer_as_the_outage_goes_on_never_past_a_third_of_a_lease() -> None:
    ticks = Ticks()
    outage = Outage(ticks)
    outage.trouble("refused", "unreachable")
    rests = []
    for _ in range(6):
        rests.append(outage.rest(lease_seconds=60))
        ticks.now += 20
    assert rests == sorted(rests) and rests[0] == 0.5 and rests[-1] == 20
    assert outage.rest(lease_seconds=6) == 2  # short leases: renewed soon after it is back
    assert outage.rest(lease_seconds=600) == 30  # ... and never more than 30 s apart


def test_lapsed_work_is_taken_back_only_after_a_lease_of_a_steady_table() -> None:
    ticks = Ticks()
    outage = Outage(ticks)
    assert not outage.settled(10)  # a daemon just started: others get a lease to renew
    ticks.now += 10
    assert outage.settled(10) and outage.settled(10, server_uptime=11)
    assert not outage.settled(10, server_uptime=3)  # the server restarted: it lapsed for all
    outage.trouble("refused", "unreachable")
    ticks.now += 30
    assert not outage.settled(10)
    outage.cleared()
    ticks.now += 9
    assert not outage.settled(10)
    ticks.now += 1
    assert outage.settled(10)
