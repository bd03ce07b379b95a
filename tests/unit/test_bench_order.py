"""The order of figure 1's runs (testbed/bench/fig_throughput.orders): every system once a
round, this package and Debian's uWSGI back to back with each first in turn, the rest rotated.
The benchmark itself is tests/system/test_bench_smoke.py."""

from testbed.bench.fig_throughput import SYSTEMS, orders

NAMES = list(SYSTEMS)


def test_the_first_rounds_exactly():
    assert NAMES == ["ours", "debian", "gunicorn", "ceiling", "ours_log_master"]
    assert [orders(NAMES, r) for r in range(9)] == [
        ["ours", "debian", "gunicorn", "ceiling", "ours_log_master"],
        ["gunicorn", "ceiling", "ours_log_master", "debian", "ours"],
        ["ceiling", "ours_log_master", "ours", "debian", "gunicorn"],
        ["ours_log_master", "debian", "ours", "gunicorn", "ceiling"],
        ["debian", "ours", "gunicorn", "ceiling", "ours_log_master"],
        ["gunicorn", "ceiling", "ours_log_master", "ours", "debian"],
        ["ceiling", "ours_log_master", "debian", "ours", "gunicorn"],
        ["ours_log_master", "ours", "debian", "gunicorn", "ceiling"],
        ["ours", "debian", "gunicorn", "ceiling", "ours_log_master"],
    ]


def test_ours_and_debian_back_to_back_each_first_in_turn():
    firsts = []
    for rnd in range(9):
        order = orders(NAMES, rnd)
        assert sorted(order) == sorted(NAMES)
        i, j = order.index("ours"), order.index("debian")
        assert abs(i - j) == 1, order
        firsts.append("ours" if i < j else "debian")
    assert firsts.count("ours") == 5 and firsts.count("debian") == 4


def test_the_pair_starts_a_round_with_either_first():
    starts = [orders(NAMES, r)[0] for r in range(9) if orders(NAMES, r)[0] in ("ours", "debian")]
    assert starts == ["ours", "debian", "ours"]


def test_neither_uwsgi_always_follows_the_same_system():
    for name in ("ours", "debian"):
        before = {orders(NAMES, r)[orders(NAMES, r).index(name) - 1]
                  for r in range(9) if orders(NAMES, r).index(name) > 0}
        assert len(before) >= 2, (name, before)
