"""The vault board without Azure: a fake Site Recovery client whose one item seeds at a steady rate in real
time. The board lists once per interval and reads the item on its own when its seeding should end before
the next list, so a slot is handed on soon after seeding ends, not up to an interval later."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from azure.core.rest import HttpRequest
from azure.mgmt.recoveryservicessiterecovery.models import MigrationItem

from wavelift.tasks.lifecycle import seeding_over
from wavelift.tasks.vault_status import VaultStatusBoard, _Seeding

VAULT_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"
ITEM_ID = f"{VAULT_ID}/replicationFabrics/f1/replicationProtectionContainers/c1/replicationMigrationItems/m1"


class SeedingItems:
    """`replication_migration_items` of one machine that seeds from 0 to 100 % in `seconds`, counting calls."""

    def __init__(self, seconds: float) -> None:
        self.started, self.seconds = time.monotonic(), seconds
        self.lists, self.gets = 0, []
        self.lock = threading.Lock()

    def _item(self) -> dict:
        done = (time.monotonic() - self.started) / self.seconds
        seeded = done >= 1
        return {
            "id": ITEM_ID,
            "name": "m1",
            "properties": {
                "migrationState": "Replicating" if seeded else "InitialSeedingInProgress",
                "testMigrateState": "None",
                "allowedOperations": [],
                "providerSpecificDetails": {
                    "instanceType": "VMwareCbt",
                    "initialSeedingProgressPercentage": 100 if seeded else int(100 * done),
                },
            },
        }

    def send_request(self, request: HttpRequest) -> SimpleNamespace:
        """The vault list, as the board reads it (raw JSON through the client's pipeline)."""
        assert request.url.startswith(f"{VAULT_ID}/replicationMigrationItems?api-version=")
        with self.lock:
            self.lists += 1
        return SimpleNamespace(status_code=200, json=lambda: {"value": [self._item()]})

    def get(self, resource_group: str, vault: str, fabric: str, container: str, name: str) -> MigrationItem:
        with self.lock:
            self.gets.append((fabric, container, name))
        return MigrationItem(self._item())


def _board(items: SeedingItems, interval: float) -> VaultStatusBoard:
    client = SimpleNamespace(
        replication_migration_items=items, send_request=items.send_request, _config=SimpleNamespace(api_version="x")
    )
    return VaultStatusBoard(client, VAULT_ID, interval)


def test_a_seeding_is_predicted_to_end_at_its_rate_so_far() -> None:
    assert _Seeding(first_at=100.0, first_percent=10, last_at=110.0, last_percent=30).predicted_end() == 145.0
    assert _Seeding(first_at=100.0, first_percent=10, last_at=100.0, last_percent=10).predicted_end() is None


def test_a_machine_predicted_to_finish_before_the_next_list_is_read_alone_then() -> None:
    items = SeedingItems(seconds=2.5)
    board = _board(items, interval=1.0)  # lists at about 0, 1 and 2 s read 0 %, 40 % and 80 %: the end is due at 2.5 s
    final = board.wait_for("m1", seeding_over, timeout=30)
    assert final is not None and final.migration_state == "Replicating"
    assert items.gets and items.gets[0] == ("f1", "c1", "m1")  # the item's own GET, at its fabric and container
    assert items.lists == 3  # noticed by that GET, not by a fourth list at 3 s


def test_without_progress_the_board_only_lists() -> None:
    items = SeedingItems(seconds=0.5)
    board = _board(items, interval=1.0)  # seeded before the second list: no two readings to predict from
    final = board.wait_for("m1", seeding_over, timeout=30)
    assert final is not None and final.migration_state == "Replicating"
    assert items.gets == [] and items.lists == 2
