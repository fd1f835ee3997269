"""The soak's verdict on plain samples: a leak or a growing backlog is caught, a plateau is not."""

from __future__ import annotations

from cdc_ods.bench.soak import Sample, Trend, growth_per_hour, judge


def _samples(rss: list[float], backlog: list[int], p99: list[float]) -> list[Sample]:
    return [
        Sample(minute, {"loader": r}, {"mysql": p / 2}, {"mysql": p}, b, 1000)
        for minute, (r, b, p) in enumerate(zip(rss, backlog, p99, strict=True), start=1)
    ]


def test_growth_is_the_least_squares_slope_per_hour() -> None:
    assert growth_per_hour([1, 2, 3, 4], [100, 101, 102, 103]) == 60.0
    assert growth_per_hour([1], [5]) == 0.0


def test_a_heap_that_settles_after_the_warmup_is_steady() -> None:
    # grows for the 10 warm-up minutes, then flat with noise
    rss = [200 + 20 * m for m in range(10)] + [400 + (m % 3) for m in range(50)]
    trends = {t.series: t for t in judge(_samples(rss, [50] * 60, [300.0] * 60), rate=1000, warmup_min=10)}
    assert trends["pss_mb loader"].ok and trends["backlog"].ok and trends["p99_ms mysql"].ok


def test_a_leak_and_a_growing_backlog_are_caught() -> None:
    leaking = [400 + 2 * m for m in range(60)]  # +120 MB per hour on ~460: 26 %
    backlog = [100 * m for m in range(60)]  # 6,000 records more per hour; bound 10 s x 100/s = 1,000
    p99 = [300.0 + 10 * m for m in range(60)]
    trends = {t.series: t for t in judge(_samples(leaking, backlog, p99), rate=100, warmup_min=10)}
    assert not trends["pss_mb loader"].ok
    assert not trends["backlog"].ok
    assert not trends["p99_ms mysql"].ok


def test_prometheus_memory_is_not_judged_but_its_series_are() -> None:
    samples = [
        Sample(m, {"prometheus": 100 + m}, {"mysql": 10}, {"mysql": 20}, 0, 1000 + 20 * m)
        for m in range(1, 61)
    ]
    trends = {t.series: t for t in judge(samples, rate=1000, warmup_min=10)}
    assert trends["pss_mb prometheus"].ok and trends["pss_mb prometheus"].bound is None
    assert "2 h" in trends["pss_mb prometheus"].why
    # 1,200 new series an hour on ~1,700: a label taking a new value as changes flow
    assert not trends["prometheus_series"].ok


def test_a_source_server_may_fill_its_cache_but_not_grow_beyond_it() -> None:
    def trend(growth_per_min: float) -> Trend:
        samples = [
            Sample(m, {"mariadb": 200 + growth_per_min * m}, {"mysql": 10}, {"mysql": 20}, 0, 1000)
            for m in range(1, 61)
        ]
        return next(t for t in judge(samples, 1000, 10, {"mariadb": 128.0}) if t.series == "pss_mb mariadb")

    filling = trend(2.0)  # 98 MiB over the 49 judged minutes: its 128 MiB buffer pool filling
    assert filling.ok and filling.bound == round(128 / (49 / 60), 1) and "128 MiB cache" in filling.why
    assert not trend(3.0).ok  # 147 MiB: more than the cache holds
