"""The vault's daily VM backup policy: written once, changed only when an operator asks.

Every VM a wave protects shares the policy, and a PUT of a policy re-applies it to every item already
under it (and may be answered 202, the SDK then returning None). So hardening creates the policy when it
is missing and otherwise leaves Azure's policy alone, saying how it differs from the hardening policy;
`update-backup-policy` applies a change, as a dry run unless asked, naming the items it reaches.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from time import sleep
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from azure.core.exceptions import ResourceNotFoundError

from wavelift.blocks.hardening import HardeningPolicy

if TYPE_CHECKING:
    from azure.mgmt.recoveryservicesbackup import RecoveryServicesBackupClient
    from azure.mgmt.recoveryservicesbackup.models import ProtectionPolicyResource

POLICY_POLLS, POLICY_POLL_SECONDS = 60, 2.0  # a policy accepted with 202 is read until it shows


def backup_run_time(policy: HardeningPolicy, zone: str) -> datetime:
    """Today's backup hour in the wave's time zone, in UTC as Azure Backup schedules expect."""
    local = datetime.combine(datetime.now(UTC).date(), time(policy.backup_hour), tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC).replace(tzinfo=None)


def desired_policy(policy: HardeningPolicy, zone: str) -> ProtectionPolicyResource:
    """The Azure Backup policy the hardening policy asks for: daily at its hour, kept its days."""
    from azure.mgmt.recoveryservicesbackup import models as bm

    run_at = backup_run_time(policy, zone)
    return bm.ProtectionPolicyResource(
        properties=bm.AzureIaaSVMProtectionPolicy(
            time_zone="UTC",
            schedule_policy=bm.SimpleSchedulePolicy(schedule_run_frequency="Daily", schedule_run_times=[run_at]),
            retention_policy=bm.LongTermRetentionPolicy(
                daily_schedule=bm.DailyRetentionSchedule(
                    retention_times=[run_at],
                    retention_duration=bm.RetentionDuration(count=policy.retention_days, duration_type="Days"),
                )
            ),
        )
    )


def _schedule(resource: ProtectionPolicyResource) -> tuple[str, int | None]:
    """(daily run time as HH:MM UTC, days kept) of a VM backup policy."""
    props = resource.properties
    runs = list(getattr(props.schedule_policy, "schedule_run_times", None) or [])
    daily = getattr(props.retention_policy, "daily_schedule", None)
    hour = runs[0].strftime("%H:%M") if runs else "none"
    return hour, daily.retention_duration.count if daily and daily.retention_duration else None


def policy_differences(existing: ProtectionPolicyResource, desired: ProtectionPolicyResource) -> list[str]:
    """What a write of `desired` would change in Azure's policy, in words; empty when nothing would."""
    (had_hour, had_days), (want_hour, want_days) = _schedule(existing), _schedule(desired)
    changes = []
    if had_hour != want_hour:
        changes.append(f"daily at {had_hour} UTC -> {want_hour} UTC")
    if had_days != want_days:
        changes.append(f"kept {had_days} -> {want_days} days")
    return changes


def read_policy(backup: RecoveryServicesBackupClient, vault: str, rg: str, name: str) -> Any | None:
    """Azure's policy of that name in the vault, or None."""
    try:
        return backup.protection_policies.get(vault, rg, name)
    except ResourceNotFoundError:
        return None


def write_policy(
    backup: RecoveryServicesBackupClient, vault: str, rg: str, name: str, desired: ProtectionPolicyResource
) -> Any:
    """Create or change the policy and return it as Azure then shows it (read again after a 202)."""
    written = backup.protection_policies.create_or_update(vault, rg, name, desired)
    return written or _applied(lambda: read_policy(backup, vault, rg, name), desired)


def _applied(read: Callable[[], Any], desired: ProtectionPolicyResource) -> Any:
    """The policy once Azure has applied `desired`: read every few seconds until it shows it."""
    for _ in range(POLICY_POLLS):
        shown = read()
        if shown is not None and not policy_differences(shown, desired):
            return shown
        sleep(POLICY_POLL_SECONDS)
    raise TimeoutError(f"Azure accepted the backup policy but did not show it after {POLICY_POLLS} reads")
