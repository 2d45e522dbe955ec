"""Raise a regional vCPU limit through the Quota API, as `az quota update` does: the fix for the preflight's
red quota finding, which Azure grants at once for most vCPU families (others become a support request)."""

from __future__ import annotations

from wavelift.blocks.azure import AzureMigrationTarget


def raise_vcpu_quota(target: AzureMigrationTarget, family: str, limit: int) -> int:
    """Ask for `limit` vCPUs of `family` (or `cores`, the regional total) in the target region; returns the
    limit Azure then reports."""
    from azure.mgmt.quota import models as qm

    scope = f"subscriptions/{target.subscription_id}/providers/Microsoft.Compute/locations/{target.target_region}"
    request = qm.CurrentQuotaLimitBase(
        properties=qm.QuotaProperties(limit=qm.LimitObject(value=limit), name=qm.ResourceName(value=family))
    )
    result = target.quota_client().quota.begin_create_or_update(family, scope, request).result()
    return result.properties.limit.value
