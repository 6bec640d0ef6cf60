"""The sweep against a real loopback server: failures of every kind are failed probes,
thresholds decide flips, re-delivery never duplicates, the URL guard holds."""

import datetime as dt

import pytest
from django.utils import timezone

from health.choices import ProbeState, Status
from health.models import Flip, HealthConfig, Probe, ProbeResult
from health.sweep import claim_due, run_probes, store, sweep
from tests.health.factories import ProbeFactory

pytestmark = pytest.mark.django_db


def _due(probe):
    Probe.objects.filter(pk=probe.pk).update(next_due_at=timezone.now() - dt.timedelta(seconds=1))


def test_hung_reset_garbage_and_huge_targets_are_failed_probes_not_crashes(loopback, allow_loopback):
    good = ProbeFactory(url=loopback.url + "/ok", conditions='[STATUS] == 200\n[BODY].status == "UP"')
    hung = ProbeFactory(url=loopback.url + "/hang", timeout_ms=300)
    garbage = ProbeFactory(url=loopback.url + "/garbage")
    reset = ProbeFactory(url=loopback.url + "/reset")
    huge = ProbeFactory(url=loopback.url + "/huge", conditions="[BODY].status == UP")
    started = timezone.now()
    stats = sweep()
    assert stats["probes"] == 5
    results = {r.probe_id: r for r in ProbeResult.objects.all()}
    assert results[good.pk].ok and results[good.pk].status_code == 200
    assert not results[hung.pk].ok and "timeout" in results[hung.pk].error
    assert not results[garbage.pk].ok and results[garbage.pk].status_code is None
    assert not results[reset.pk].ok
    assert not results[huge.pk].ok and results[huge.pk].status_code == 200  # body capped, so the JSON path fails
    # the hung target cost its timeout, not more
    assert (timezone.now() - started).total_seconds() < 10
    # next run is scheduled one interval later; the lease is released
    for probe in Probe.objects.all():
        assert probe.lease_owner == "" and probe.lease_until is None
        assert probe.next_due_at > started


def test_redirect_into_a_denied_address_is_refused(loopback, allow_loopback):
    probe = ProbeFactory(url=f"{loopback.url}/redirect?to=http://169.254.169.254/latest/meta-data/")
    sweep()
    result = ProbeResult.objects.get(probe=probe)
    assert not result.ok
    assert "denied" in result.error and "link-local" in result.error


def test_loopback_is_denied_without_the_allowlist(loopback, settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    probe = ProbeFactory(url=loopback.url + "/ok")
    hits = loopback.hits
    sweep()
    result = ProbeResult.objects.get(probe=probe)
    assert not result.ok and "loopback" in result.error
    assert loopback.hits == hits  # never connected


def test_host_names_are_checked_at_connect_time(loopback, settings):
    settings.OUTBOUND_URL_ALLOWLIST = []
    probe = ProbeFactory(url=f"http://localhost:{loopback.port}/ok")
    sweep()
    result = ProbeResult.objects.get(probe=probe)
    assert not result.ok and "denied" in result.error


def test_two_workers_never_claim_the_same_probe(loopback, allow_loopback):
    ProbeFactory.create_batch(5, url=loopback.url + "/ok")
    owner_a, first = claim_due()
    owner_b, second = claim_due()
    assert len(first) == 5 and second == []
    assert set(Probe.objects.values_list("lease_owner", flat=True)) == {owner_a}


def test_redelivered_sweep_does_not_duplicate_results(loopback, allow_loopback):
    """A worker killed after storing results but before acking: the lease expires and the
    next sweep runs the same scheduled time again; the unique key keeps one result."""
    probe = ProbeFactory(url=loopback.url + "/ok")
    owner, claimed = claim_due()
    outcomes = run_probes(claimed)
    store(claimed, outcomes, owner=owner)
    # simulate the crash before next_due_at moved: put the probe back as it was, lease expired
    Probe.objects.filter(pk=probe.pk).update(next_due_at=claimed[0].next_due_at, lease_until=None, lease_owner="")
    sweep()
    assert ProbeResult.objects.filter(probe=probe).count() == 1


def test_a_worker_whose_lease_was_taken_over_does_not_overwrite_state(loopback, allow_loopback):
    probe = ProbeFactory(url=loopback.url + "/ok")
    owner, claimed = claim_due()
    Probe.objects.filter(pk=probe.pk).update(lease_owner="someone-else")
    store(claimed, run_probes(claimed), owner=owner)
    probe.refresh_from_db()
    assert probe.lease_owner == "someone-else" and probe.last_checked_at is None


def test_thresholds_down_after_three_failures_up_after_two_successes(loopback, allow_loopback):
    probe = ProbeFactory(url=loopback.url + "/toggle", interval_seconds=5)
    config = HealthConfig.objects.get(integration=probe.integration)
    loopback.toggle_status = 200
    sweep()
    config.refresh_from_db()
    assert config.status == Status.UP
    loopback.toggle_status = 503
    for expected in (Status.UP, Status.UP, Status.DOWN):
        _due(probe)
        sweep()
        config.refresh_from_db()
        assert config.status == expected
    probe.refresh_from_db()
    assert probe.state == ProbeState.DOWN and probe.consecutive_failures == 3
    loopback.toggle_status = 200
    for expected in (Status.DOWN, Status.UP):
        _due(probe)
        sweep()
        config.refresh_from_db()
        assert config.status == expected
    flips = list(Flip.objects.filter(integration=probe.integration).order_by("at", "pk").values_list("from_status", "to_status"))
    assert flips == [("unknown", "up"), ("up", "down"), ("down", "up")]
    assert "failing" in Flip.objects.get(to_status="down").reason


def test_one_of_two_probes_down_is_degraded(loopback, allow_loopback):
    good = ProbeFactory(url=loopback.url + "/ok")
    ProbeFactory(integration=good.integration, url=loopback.url + "/status/500",
                 with_config=True).integration.health.__class__.objects.filter(
        integration=good.integration).update(failure_threshold=1)
    sweep()
    config = HealthConfig.objects.get(integration=good.integration)
    assert config.status == Status.DEGRADED
    assert "1 of 2" in config.status_reason


def test_chunked_gzip_bodies_and_redirects_are_read_and_connections_reused(loopback, allow_loopback):
    """The sweep's own HTTP client: a chunked, gzip-compressed JSON body is decoded for
    [BODY] conditions, a redirect is followed to its target, and many probes on one host
    share keep-alive connections without mixing up their answers."""
    chunked = ProbeFactory(url=loopback.url + "/chunked", conditions='[BODY].status == "UP"')
    redirected = ProbeFactory(url=f"{loopback.url}/redirect?to=/json?status=DOWN", conditions='[BODY].status == "DOWN"')
    toggles = ProbeFactory.create_batch(30, url=loopback.url + "/status/204", conditions="[STATUS] == 204")
    head = ProbeFactory(url=loopback.url + "/ok", method="HEAD", conditions="[STATUS] == 200")
    stats = sweep(concurrency=4)
    results = {r.probe_id: r for r in ProbeResult.objects.all()}
    assert results[chunked.pk].ok, results[chunked.pk].error
    assert results[redirected.pk].ok, results[redirected.pk].error
    assert all(results[p.pk].ok and results[p.pk].status_code == 204 for p in toggles)
    assert results[head.pk].ok, results[head.pk].error
    assert stats["failed"] == 0
