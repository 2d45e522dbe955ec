"""The client keeps to ARM's request budget: requests beyond it wait in the process instead of being refused."""

from __future__ import annotations

from types import SimpleNamespace

from wavelift.blocks.arm_budget import ArmBudget, TokenBucket, kind_of


class _Clock:
    """A clock that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_burst_passes_at_once_and_the_rest_waits_for_the_refill() -> None:
    clock = _Clock()
    bucket = TokenBucket(burst=10, per_second=5, clock=clock, sleep=clock.sleep)
    waits = [bucket.take() for _ in range(20)]
    assert waits[:10] == [0.0] * 10
    assert all(w > 0 for w in waits[10:])
    assert abs(clock.now - 10 / 5) < 1e-9  # ten more requests at five a second: two seconds, never faster


def test_each_subscription_and_kind_has_its_own_share_of_arm() -> None:
    budget = ArmBudget(share=0.8)
    reads = budget.bucket("SUB-1", "read")
    assert (reads.burst, reads.per_second) == (200, 20)
    assert budget.bucket("sub-1", "read") is reads
    assert budget.bucket("sub-2", "read") is not reads
    assert (budget.bucket("sub-1", "delete").burst, budget.bucket("sub-1", "write").per_second) == (160, 8)
    assert [kind_of(m) for m in ("GET", "head", "PUT", "POST", "PATCH", "DELETE")] == [
        "read",
        "read",
        "write",
        "write",
        "write",
        "delete",
    ]


def test_the_hook_counts_arm_requests_only() -> None:
    budget = ArmBudget(share=0.5)

    def request(method: str, url: str) -> SimpleNamespace:
        return SimpleNamespace(http_request=SimpleNamespace(method=method, url=url))

    budget.request_hook(request("GET", "https://management.azure.com/subscriptions/s1/resourceGroups/rg?x=1"))
    budget.request_hook(request("POST", "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"))
    assert set(budget._buckets) == {("s1", "read")}


def test_callers_over_the_budget_are_let_through_a_group_at_a_time() -> None:
    """Twenty-five requests asked for at once by as many threads, with a burst of five and five tokens a quarter
    second: after the burst they go five at a time (back to back, where the CPU is warm), on the quarter seconds,
    never sooner than the rate allows."""
    now = 0.0
    bucket = TokenBucket(burst=5, per_second=20, clock=lambda: now, sleep=lambda _: None, group=5)
    wakes = [now + bucket.take() for _ in range(25)]
    assert wakes == [0.0] * 5 + [0.25] * 5 + [0.5] * 5 + [0.75] * 5 + [1.0] * 5
    assert all(i <= 5 + 20 * t for i, t in enumerate(wakes, start=1))  # burst + rate x time, at every request


def test_a_lone_caller_keeps_the_average_rate_in_groups() -> None:
    """One thread asking again as soon as it gets an answer: the first request of a group waits for its refill, the
    other four pass at once, and a hundred requests over the burst take five seconds at twenty a second, as
    without groups."""
    clock = _Clock()
    bucket = TokenBucket(burst=5, per_second=20, clock=clock, sleep=clock.sleep, group=5)
    waits = [bucket.take() for _ in range(105)]
    assert sum(1 for w in waits if w) == 20  # one wait a group
    assert abs(clock.now - 100 / 20) < 1e-9


def test_budgets_group_about_a_quarter_second_of_tokens() -> None:
    budget = ArmBudget(share=0.8)
    assert (budget.bucket("s", "read").group, budget.bucket("s", "write").group) == (5, 2)
    assert ArmBudget(share=0.1).bucket("s", "write").group == 1  # a token each second: no group to wait for
