"""Prefect flows: only the wiring of tasks (what runs after what, fan-out, waits, sign-off)."""
