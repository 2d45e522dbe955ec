"""The emulator's capacity model: disks share the appliances' parallel slots and the uplink."""

from __future__ import annotations

import pytest

from wavelift.emulator.config import CapacityModel
from wavelift.emulator.seeding import SeedingEngine


def _engine(**capacity: float) -> tuple[SeedingEngine, dict[str, float]]:
    done: dict[str, float] = {}
    return SeedingEngine(CapacityModel(**capacity), lambda owner, t: done.__setitem__(owner, t)), done


def test_a_machine_alone_seeds_at_the_disk_rate() -> None:
    engine, done = _engine(disk_mbps=10, parallel_disks=10, bandwidth_mbps=1000)
    engine.add("a", [1.0, 2.0], now=0)  # 1 GiB and 2 GiB in parallel
    engine.advance(1000)
    assert done["a"] == pytest.approx(2 * 1024 / 10)


def test_parallel_disk_slots_queue_the_rest() -> None:
    engine, done = _engine(disk_mbps=10, parallel_disks=2, bandwidth_mbps=1000)
    for name in "abc":
        engine.add(name, [1.0], now=0)
    engine.advance(10_000)
    assert done["a"] == pytest.approx(102.4) and done["b"] == pytest.approx(102.4)
    assert done["c"] == pytest.approx(204.8)  # waited for a slot


def test_the_uplink_is_shared_when_it_is_the_bottleneck() -> None:
    engine, done = _engine(disk_mbps=100, parallel_disks=10, bandwidth_mbps=100)
    engine.add("a", [1.0], now=0)
    engine.add("b", [1.0], now=0)
    assert engine.progress("a") == 0
    engine.advance(10.24)
    assert engine.progress("a") == 50
    engine.advance(10_000)
    assert done == {"a": pytest.approx(20.48), "b": pytest.approx(20.48)}


def test_removing_a_machine_frees_its_slot() -> None:
    engine, done = _engine(disk_mbps=10, parallel_disks=1, bandwidth_mbps=1000)
    engine.add("a", [10.0], now=0)
    engine.add("b", [1.0], now=0)
    engine.remove("a", now=50)
    engine.advance(10_000)
    assert "a" not in done and done["b"] == pytest.approx(50 + 102.4)


def test_alone_seconds_is_the_capacity_models_bound() -> None:
    engine, _ = _engine(disk_mbps=10, parallel_disks=10, bandwidth_mbps=1000, enable_seconds=60)
    assert engine.alone_seconds([1.0, 4.0]) == pytest.approx(60 + 4 * 1024 / 10)


def test_a_vcenters_appliance_replicates_a_limited_number_of_machines_and_queues_the_rest() -> None:
    """Learn ("Agentless migration of VMware VMs"): 300 machines per vCenter with one appliance; others queue.
    Another vCenter's machines do not wait for them."""
    engine, done = _engine(disk_mbps=10, parallel_disks=10, bandwidth_mbps=1000, vms_per_vcenter=2)
    for name in "abc":
        engine.add(name, [1.0, 1.0], now=0, group="vc-1")
    engine.add("d", [1.0], now=0, group="vc-2")
    assert [engine.queued(n) for n in "abcd"] == [False, False, True, False]
    engine.advance(10_000)
    assert done["a"] == done["b"] == done["d"] == pytest.approx(102.4)
    assert done["c"] == pytest.approx(204.8)  # started when a and b were done, though disk slots were free
    assert not engine.queued("c")
