"""How flows run: the CLI, the demo, and (later) deployments, schedules and concurrency limits."""
