"""bench.data's goals and table, judged on a report of its shape (the measurements themselves are
toolkit commands in processes of their own; their figures are in the README)."""

from toolkit.bench.data import _goals, data_table


def _row(scale, mode, workers, driver, worker, rate):
    return {
        "scale": scale, "mode": mode, "workers": workers, "train_reviews": 25_000 * scale,
        "driver_peak_rss_mb": driver, "worker_peak_rss_mb": [worker] * workers, "reviews_per_second": rate,
    }  # fmt: skip


def test_the_goals_are_judged_on_growth_speed_and_prepare_ratios():
    report = {
        "prepare": [{"scale": 10, "reviews": 275_000, "text_py_reviews_per_second": 6000.0,
                     "prepare_2cpu": {"reviews_per_second": 4000.0, "ratio_to_text_py": 0.68}}],
        "training": [
            _row(1, "in-memory", 1, 1000, 1000, 500), _row(1, "streamed", 1, 750, 1000, 450),
            _row(10, "in-memory", 1, 2700, 1450, 450), _row(10, "streamed", 1, 750, 1250, 400),
        ],
    }  # fmt: skip
    goals = _goals(report)
    assert goals["rss_growth"]["streamed w1 worker 0"] == 1.25 and goals["rss_growth"]["in-memory w1 driver"] == 2.7
    assert goals["streamed_rss_growth_at_most_1.3"] and goals["streamed_speed_ratio"] == {"x1 w1": 0.9, "x10 w1": 0.889}
    assert goals["streamed_at_least_0.85"] and not goals["prepare_2cpu_at_least_1.5"]
    report["training"][3]["worker_peak_rss_mb"] = [1400]  # 1.4x: over the goal
    report["training"][3]["reviews_per_second"] = 300  # 0.67x
    goals = _goals(report)
    assert not goals["streamed_rss_growth_at_most_1.3"] and not goals["streamed_at_least_0.85"]
    report["goals"] = goals
    table = data_table(report)
    assert "x10 streamed w1" in table and "4,000/s x0.68" in table
