"""Figure 6 of the bench (testbed/bench/fig_django.py): the order of its runs, the check of
the login page before the load, and its report and plot from made-up rounds. The benchmark
itself runs in tests/system/test_bench_smoke.py."""

from testbed.bench import fig_django, plots, report
from testbed.bench.fig_throughput import summary

LOGIN = ('<form action="/admin/login/" method="post" id="login-form">'
         '<input type="hidden" name="csrfmiddlewaretoken" value="x3Fz">')


def test_each_cell_runs_ours_first_in_every_other_round():
    for i in range(3):
        firsts = [fig_django.order(rnd, i)[0] for rnd in range(15)]
        assert firsts == ["ours" if (rnd + i) % 2 == 0 else "debian" for rnd in range(15)]
    for rnd in range(4):
        assert [fig_django.order(rnd, i) for i in range(2)] in (
            [("ours", "debian"), ("debian", "ours")], [("debian", "ours"), ("ours", "debian")])


def test_only_the_login_form_with_its_csrf_token_is_the_login_page():
    assert fig_django.is_login_page(200, "<html>" + LOGIN + "</html>")
    assert not fig_django.is_login_page(400, LOGIN)  # e.g. DisallowedHost
    assert not fig_django.is_login_page(200, "<h1>Not Found</h1>")
    assert not fig_django.is_login_page(200, '<form id="login-form">')  # no CSRF token
    assert not fig_django.is_login_page(502, "")


def _wrk(rps, p99, cpu):
    return {"rps": float(rps), "p50_ms": p99 / 2, "p99_ms": p99, "errors": 0, "server_cpu_us": float(cpu),
            "nginx_cpu_us": 10.0}


def _results(ours_rounds, debian_rounds):
    cells = {}
    for conns in ("1", "16"):
        cells[conns] = {"ours": summary(ours_rounds, ours_rounds),
                        "debian": summary(debian_rounds, ours_rounds)}
    return {"settings": {"seconds": 3},
            "django": {"django": {"ours": "3.2.25", "debian": "3.2.25"}, "path": "/admin/login/",
                       "page_bytes": {"ours": 2200, "debian": 2200}, "first": {}, "cells": cells}}


def test_the_report_gives_ours_over_debians_with_the_middle_half_of_the_rounds():
    ours = [_wrk(1000, 10.0, 800) for _ in range(5)]
    # Debian's per round: ours/Debian's req/s 0.5, 1.0, 1.25, 2.0, 4.0: median 1.25, middle half 1.0-2.0
    debian = [_wrk(rps, p99, 800) for rps, p99 in ((2000, 20.0), (1000, 10.0), (800, 8.0), (500, 5.0),
                                                   (250, 2.5))]
    text = report.django_section(_results(ours, debian), {})
    headline = [line for line in text.splitlines() if line.startswith("| 16 | 1000.0 |")]
    assert headline == ["| 16 | 1000.0 | 800.0 | 1.25x (1.00-2.00) | 10.00 | 8.00 | 1.25x (1.00-2.00) "
                        "| 1.00x (1.00-1.00) |"]
    assert "5 rounds of 3 s" in text
    assert "(Django 3.2.25)" in text


def test_a_faster_debian_is_named_where_this_package_loses():
    ours = [_wrk(1000, 10.0, 800) for _ in range(3)]
    debian = [_wrk(1200, 8.0, 700) for _ in range(3)]
    found = report.losses(_results(ours, debian))
    assert "figure 6, Django admin login, c=16: Debian's uWSGI serves 1.20x our requests/s (1200.0 vs 1000.0)." in found
    assert "figure 6, Django admin login, c=1: Debian's uWSGI's p99 is 8.00 ms, ours 10.00 ms." in found
    assert report.losses(_results(ours, ours)) == []


def test_the_plot_is_drawn(tmp_path):
    ours = [_wrk(1000, 10.0, 800) for _ in range(3)]
    pngs = plots.render(_results(ours, ours), tmp_path)
    assert [p.name for p in pngs] == ["django.png"]
    assert pngs[0].stat().st_size > 0
