"""Two replicas behind a real HAProxy (deploy/haproxy.cfg), one PostgreSQL, one Redis, a mixed load
with ~70% streams: what a team deployment must survive without losing requests or usage rows.

Every scenario runs a bounded load through the balancer and disturbs it once in the middle: the usage
database restarts, a replica is stopped (SIGTERM, drains) or killed (SIGKILL) and started again. The
load's figures go to the test's output (`-s`) and are the ones the README reports.
"""

from __future__ import annotations

import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from random import Random

from tests.support.mixed_load import Load, Outcome
from tests.support.replicas import Team

REQUESTS = 300
# The replicas drain for longer than HAProxy needs to take them out: 2 failed checks of /ready.
INTER = "1s"
DRAIN = {"DRAIN_SECONDS": "4", "SHUTDOWN_GRACE": "30"}
KEY: dict[str, dict[str, object]] = {"team": {}}  # a key without limits


def report(name: str, load: Load, **figures: object) -> None:
    extra = "".join(f", {key} {value}" for key, value in figures.items())
    sys.stdout.write(f"\n[{name}] {load.summary()}{extra}\n")  # shown with -s


def answered_ids(outcomes: list[Outcome]) -> set[str]:
    ids = {o.request_id for o in outcomes if o.answered and o.request_id}
    assert len(ids) == sum(o.answered for o in outcomes), "an answered request without a request-id header"
    return ids


def assert_one_row_each(team: Team, outcomes: list[Outcome]) -> int:
    """Every answered request has exactly one usage row; the number of rows."""
    answered = answered_ids(outcomes)
    rows = team.wait_for_rows(answered)
    missing = answered - rows.keys()
    assert not missing, f"{len(missing)} answered request(s) without a usage row, e.g. {sorted(missing)[:3]}"
    doubled = {request_id: count for request_id, count in rows.items() if count > 1}
    assert not doubled, f"usage rows written twice: {doubled}"
    return sum(rows.values())


def failures(outcomes: list[Outcome]) -> list[str]:
    return [o.failure or str(o.status) for o in outcomes if not o.answered]


def test_a_replica_stopped_mid_load_drains_without_failing_a_request(team: Callable[..., Team]) -> None:
    started = team(replica_settings=[DRAIN, DRAIN], keys=KEY, inter=INTER)
    stopped = started.replicas[0]
    load = Load(started.url, started.keys["team"], REQUESTS).start()
    load.wait_for(REQUESTS // 4)
    stopped.signal(signal.SIGTERM)
    out_after = started.balancer.wait_for(stopped.name, "DOWN")
    exit_code = stopped.wait(60)
    outcomes = load.join()
    assert exit_code == 0, stopped.output()
    assert not failures(outcomes), f"{failures(outcomes)[:5]}\n{started.outputs()}"
    rows = assert_one_row_each(started, outcomes)
    report("SIGTERM", load, rows=rows, haproxy_out_after=f"{out_after:.1f}s")


def test_a_usage_database_restarted_mid_load_loses_no_usage_row(team: Callable[..., Team]) -> None:
    started = team(replica_settings=[{}, {}], keys=KEY, inter=INTER)
    load = Load(started.url, started.keys["team"], REQUESTS).start()
    load.wait_for(REQUESTS // 4)
    started.postgres.stop()
    time.sleep(1.0)  # the writers fail, keep their batches and retry
    started.postgres.start_again()
    outcomes = load.join()
    assert not failures(outcomes), failures(outcomes)[:5]  # a database outage is no client's problem
    rows = assert_one_row_each(started, outcomes)
    logs = "".join(replica.output() for replica in started.replicas)
    assert "could not write" in logs, "the outage did not reach the writers: no test"
    report("PostgreSQL restart", load, rows=rows)


def test_a_per_key_rate_limit_holds_across_both_replicas(team: Callable[..., Team]) -> None:
    rpm = 120
    started = team(replica_settings=[{}, {}], keys={"limited": {"rpm": rpm}}, inter=INTER)

    def plain(_: Random) -> tuple[bool, str]:
        return False, "plain 0"

    # ~60 requests a second for ~5 s: the burst goes in 2 s, then the refill (2 a second) counts.
    load = Load(started.url, started.keys["limited"], 300, clients=6, kind=plain, pause=0.1).start()
    outcomes = load.join()
    statuses = Counter(o.status for o in outcomes)
    assert set(statuses) == {200, 429}, statuses
    served = [replica.output().count("POST /v1/messages") for replica in started.replicas]
    assert min(served) > len(outcomes) / 4, f"the balancer did not spread the load: {served}"
    # A token bucket: the whole minute at once, then rpm/60 a second for the load's duration.
    expected = rpm + rpm / 60 * load.seconds
    assert rpm <= statuses[200] <= expected + 1, (statuses, load.seconds)
    assert statuses[200] >= 0.95 * expected - 1, (statuses, load.seconds)
    report("rpm limit", load, allowed=statuses[200], expected=f"{expected:.0f}", per_replica=served)


class UsageLost(AssertionError):
    """Answered or interrupted requests without their usage row: what the usage journal fixes."""


def test_a_replica_killed_mid_load_and_restarted_loses_no_usage_row(team: Callable[..., Team]) -> None:
    started = team(replica_settings=[{}, {}], keys=KEY, inter=INTER)
    killed, load = started.replicas[0], Load(started.url, started.keys["team"], REQUESTS).start()
    load.wait_for(REQUESTS // 4)
    # The kill comes while the usage database is away, so the replica certainly holds answered
    # requests whose rows are not written yet: a test that cannot pass by luck of timing.
    started.postgres.stop()
    time.sleep(0.8)
    killed.signal(signal.SIGKILL)
    killed.wait(10)
    started.postgres.start_again()
    started.balancer.wait_for(killed.name, "DOWN")
    killed.start().wait_ready()
    back_after = started.balancer.wait_for(killed.name, "UP")
    outcomes = load.join()
    # Only what the killed replica was serving fails; HAProxy sends the rest to the other one.
    cut = [o for o in outcomes if not o.answered]
    assert len(cut) <= load.clients, failures(outcomes)
    answered = answered_ids(outcomes)
    rows = started.wait_for_rows(answered, timeout=8)
    report("SIGKILL", load, rows=sum(rows.values()), back_in_haproxy_after=f"{back_after:.1f}s")
    missing = answered - rows.keys()
    if missing:
        raise UsageLost(f"{len(missing)} of {len(answered)} answered request(s) without a usage row")
    assert all(count == 1 for count in rows.values()), "usage rows written twice"
    interrupted = {o.request_id for o in cut if o.request_id}
    kinds = started.error_types()
    if not all(kinds.get(request_id) == "interrupted" for request_id in interrupted):
        raise UsageLost(f"streams cut by the kill not recorded as interrupted: {interrupted}")


def test_a_replica_with_two_workers_drains_both_on_sigterm(team: Callable[..., Team]) -> None:
    started = team(replica_settings=[DRAIN | {"WORKERS": "2"}, DRAIN], keys=KEY, inter=INTER)
    stopped = started.replicas[0]
    load = Load(started.url, started.keys["team"], REQUESTS).start()
    load.wait_for(REQUESTS // 4)
    stopped.signal(signal.SIGTERM)
    started.balancer.wait_for(stopped.name, "DOWN")
    exit_code = stopped.wait(60)
    outcomes = load.join()
    output = stopped.output()
    assert exit_code == 0, output
    assert not failures(outcomes), f"{failures(outcomes)[:5]}\n{output[-3000:]}"
    assert output.count("draining: /ready answers 503") == 2, output[-3000:]
    rows = assert_one_row_each(started, outcomes)
    report("SIGTERM, 2 workers", load, rows=rows)
