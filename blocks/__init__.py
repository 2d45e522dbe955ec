"""Prefect Block types: Azure credentials and target (they build the SDK clients), and later the
migration policy, on-prem adapters and docs target."""
