"""Prefect Block types: Azure credentials and target (they build the SDK clients), the wave plan, the
hardening and clean-up policies, the sign-off ledger, the on-prem adapters and the docs target.

None of them sets `_logo_url`: the UI then draws Prefect's own block icon, where a logo on a CDN would
be a broken image on a migration site without Internet."""
