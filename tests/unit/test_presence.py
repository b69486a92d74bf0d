"""Presence records and the roster's decisions: who is alive, what is abandoned, who retires it."""

from __future__ import annotations

from routemq_runtime.presence.record import Layout, parse_topic, state_payload
from routemq_runtime.presence.roster import Roster

FILTERS = (("$share/g/jobs/+", 1),)


def layout(instance: str, app: str = "app", group: str = "g", n: int = 2) -> bytes:
    clients = {f"{instance}-jobs-{i}": FILTERS for i in range(n)}
    return Layout(instance, app, group, clients).encode()


def roster(me: str = "b", grace: float = 10.0) -> Roster:
    return Roster(me, "app", "g", grace)


def test_records_round_trip_and_topics_parse():
    decoded = Layout.decode(layout("a"))
    assert decoded is not None and decoded.clients["a-jobs-0"] == FILTERS
    assert Layout.decode(b"") is None and Layout.decode(b"not json") is None
    assert parse_topic("routemq/presence", "routemq/presence/a/state") == ("a", "state")
    assert parse_topic("routemq/presence", "routemq/presence/a/probe") is None
    assert parse_topic("routemq/presence", "other/a/state") is None


def test_an_offline_instance_is_due_only_after_the_grace_period():
    r = roster()
    r.observe("a", "layout", layout("a"), now=0.0)
    r.observe("a", "state", state_payload("offline"), now=0.0)
    assert r.due(now=9.9) == []
    assert r.stranded(now=9.9) == 2
    due = r.due(now=10.0)
    assert [d.client_id for d in due] == ["a-jobs-0", "a-jobs-1"]
    assert due[0].filters == FILTERS


def test_an_instance_back_online_is_never_taken_over():
    r = roster()
    r.observe("a", "layout", layout("a"), now=0.0)
    r.observe("a", "state", state_payload("offline"), now=0.0)
    r.observe("a", "state", state_payload("online"), now=5.0)
    assert r.due(now=100.0) == []
    r.observe("a", "state", state_payload("offline"), now=50.0)  # the clock starts again
    assert r.due(now=59.0) == [] and r.due(now=60.0)


def test_only_the_first_live_peer_retires():
    first, second = roster(me="b"), roster(me="c")
    for r in (first, second):
        for peer in ("b", "c"):
            r.observe(peer, "layout", layout(peer), now=0.0)
            r.observe(peer, "state", state_payload("online"), now=0.0)
        r.observe("a", "layout", layout("a"), now=0.0)
    assert first.due(now=20.0) and second.due(now=20.0) == []


def test_unrelated_apps_are_left_alone_but_a_renamed_app_or_group_is_not():
    r = roster()
    r.observe("x", "layout", layout("x", app="other", group="other"), now=0.0)
    r.observe("y", "layout", layout("y", app="renamed", group="g"), now=0.0)
    r.observe("z", "layout", layout("z", app="app", group="renamed"), now=0.0)
    assert {d.instance for d in r.due(now=20.0)} == {"y", "z"}


def test_cleared_records_forget_the_instance():
    r = roster()
    r.observe("a", "layout", layout("a"), now=0.0)
    r.observe("a", "layout", b"", now=1.0)
    assert r.due(now=20.0) == [] and r.stranded(now=20.0) == 0
