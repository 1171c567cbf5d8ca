"""Grading waits for the CNI to enforce a NetworkPolicy just changed in the exercise's namespaces."""

import calendar
import time

from kubelab.student import POLICY_SETTLE_SECONDS, policy_settle

NOW = calendar.timegm(time.strptime("2026-11-28T10:00:00Z", "%Y-%m-%dT%H:%M:%SZ"))


def meta(namespace: str, created: str, *updates: str) -> dict:
    return {"name": "p", "namespace": namespace, "creationTimestamp": created,
            "managedFields": [{"manager": "kubectl", "time": t} for t in updates]}


def test_a_policy_changed_three_seconds_ago_waits_the_rest():
    policies = [meta("ex-np", "2026-11-28T09:00:00Z", "2026-11-28T09:59:57Z")]
    assert policy_settle(policies, ("ex-np",), NOW) == POLICY_SETTLE_SECONDS - 3


def test_old_policies_and_other_namespaces_cost_nothing():
    policies = [meta("ex-np", "2026-11-28T09:00:00Z"), meta("other", "2026-11-28T09:59:59Z")]
    assert policy_settle(policies, ("ex-np",), NOW) == 0.0
    assert policy_settle([], ("ex-np",), NOW) == 0.0


def test_fractional_seconds_and_datetimes_are_read_too():
    from datetime import datetime, timezone
    policies = [meta("ex-np", "2026-11-28T09:59:57.500000Z"),
                {"namespace": "ex-np", "creationTimestamp": datetime(2026, 11, 28, 9, 59, 55, tzinfo=timezone.utc)}]
    assert policy_settle(policies, ("ex-np",), NOW) == POLICY_SETTLE_SECONDS - 2.5


def test_a_clock_ahead_never_waits_longer_than_the_settle_time():
    policies = [meta("ex-np", "2026-11-28T10:05:00Z")]
    assert policy_settle(policies, ("ex-np",), NOW) == POLICY_SETTLE_SECONDS
