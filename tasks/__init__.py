"""Prefect tasks: one module per phase, each a unit of work on one machine or one wave-wide call."""
