"""The sampled estimate of how many flags are real errors: the Wilson interval, the stratified
seeded sample, the estimate by label-quality band, and `review --sample` at the CLI."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.precision import estimate, sample_flags, wilson
from tests.runs import make_ranked_run


def test_wilson_matches_the_textbook_values():
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_wilson_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    p, n = 0.3, 40
    hits = [lo <= p <= hi for lo, hi in (wilson(int(rng.binomial(n, p)), n) for _ in range(4000))]
    assert 0.93 <= np.mean(hits) <= 0.98


def ranking_of(given: list[str], flagged: list[bool]) -> pd.DataFrame:
    n = len(given)
    return pd.DataFrame({"row": np.arange(n), "given_label": given, "is_label_issue": flagged,
                         "label_quality": np.linspace(0, 1, n)})


def test_sample_is_seeded_flagged_only_and_stratified():
    given = ["a"] * 600 + ["b"] * 300 + ["c"] * 100
    flagged = [i % 2 == 0 for i in range(1000)]            # 300 a, 150 b, 50 c flagged
    r = ranking_of(given, flagged)
    s = sample_flags(r, 50, seed=3)
    assert len(s) == len(set(s)) == 50
    assert r.set_index("row").loc[s, "is_label_issue"].all()
    per = pd.Series(r.set_index("row").loc[s, "given_label"]).value_counts().to_dict()
    assert per == {"a": 30, "b": 15, "c": 5}                # proportional to the flags
    assert list(sample_flags(r, 50, seed=3)) == list(s)
    assert list(sample_flags(r, 50, seed=4)) != list(s)
    assert len(sample_flags(r, 10_000)) == 500             # at most every flag


def test_estimate_overall_and_by_band():
    r = ranking_of(["a"] * 100, [True] * 80 + [False] * 20)
    # the reviewer saw 20 of the flags: the most suspect 10 all wrong, the last 10 all right
    sampled = pd.DataFrame({"row": list(range(10)) + list(range(70, 80)),
                            "decision": ["relabel"] * 5 + ["drop"] * 5 + ["keep"] * 10})
    est = estimate(r, sampled)
    assert (est.flagged, est.reviewed, est.errors, est.share) == (80, 20, 10, 0.5)
    assert est.low < 0.5 < est.high
    assert [(b.first, b.last, b.reviewed, b.errors) for b in est.bands] == [
        (1, 20, 10, 10), (21, 40, 0, 0), (41, 60, 0, 0), (61, 80, 10, 0)]
    assert "of the 80 flags, an estimated 50% (" in est.line() and "from 20 reviewed" in est.line()
    assert "`export --drop-top 20` drops through here" in est.band_lines()[0]
    # a decision on a row that is not flagged (any more) does not count
    est = estimate(r, pd.DataFrame({"row": [90], "decision": ["drop"]}))
    assert est.reviewed == 0 and est.share is None


def test_review_sample_refusals_at_the_cli(tmp_path):
    run = make_ranked_run(tmp_path, flagged={"cat": 0, "dog": 0, "bird": 0})
    res = CliRunner().invoke(main, ["review", str(run), "--sample", "5", "--no-browser"])
    assert res.exit_code == 2 and "nothing to sample" in res.output and "--top" in res.output
    res = CliRunner().invoke(main, ["review", str(run), "--sample", "5", "--top", "3"])
    assert res.exit_code == 2 and "--sample" in res.output and "--top" in res.output
