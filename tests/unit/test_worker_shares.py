"""num_workers / WORKER_COUNT: processes in total, shared out by the routes' worker_count."""

import pytest

from routemq_runtime.supervisor.shares import share_out


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (8, [3, 5], [3, 5]),
        (7, [3, 2], [4, 3]),
        (16, [3, 5], [6, 10]),
        (10, [2, 5, 10], [1, 3, 6]),
        (4, [1, 1, 20], [1, 1, 2]),
        (8, [1], [8]),
        (2, [3, 2], [1, 1]),
        (1, [3, 5, 1], [1, 1, 1]),
        (3, [1, 1, 1], [1, 1, 1]),
    ],
)
def test_share_out(total, weights, parts):
    assert share_out(total, weights) == parts


@pytest.mark.parametrize("total", range(1, 40))
def test_shares_add_up_to_the_total_and_never_drop_a_route(total):
    weights = [3, 5, 1, 10]
    parts = share_out(total, weights)
    assert min(parts) >= 1
    assert sum(parts) == max(total, len(weights))
