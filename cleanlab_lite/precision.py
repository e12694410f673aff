"""How many of the flags are real errors: a random sample reviewed by a person, and an interval.

The probabilities alone cannot say what share of the flagged rows really carry a wrong label;
a person looking at a random sample of them can. `sample_flags` draws that sample (seeded,
stratified by given class, proportional to each class's share of the flags, in shuffled order so
that any prefix a reviewer gets through is itself a random sample). The decisions on it
(`decisions.csv` rows with `sampled` true; relabel or drop = a real error, keep = the label was
right) give `estimate`: the share of real errors among the flags with a Wilson 95% interval,
overall and per band of label quality (the flags cut by ranking position into bands, most
suspect first), each band with the `export --drop-top N` that stops at its end.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

Z95 = 1.959963984540054   # two-sided 95% normal quantile
BANDS = 4                 # label-quality bands the flags are cut into (by ranking position)


def wilson(errors: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial share `errors / n` (0, 1 when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = errors / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def sample_flags(ranking: pd.DataFrame, n: int, seed: int = 0) -> np.ndarray:
    """`n` flagged rows (ranking's `row` values) drawn without replacement, stratified by given
    label in proportion to each class's flags (largest remainders), in a seeded random order."""
    flagged = ranking.loc[ranking["is_label_issue"].to_numpy(bool), ["row", "given_label"]]
    n = min(int(n), len(flagged))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    groups = flagged.groupby(flagged["given_label"].astype(str), sort=True)["row"]
    sizes = groups.size()
    quota = sizes.to_numpy() * n / len(flagged)
    take = np.floor(quota).astype(int)
    rest = n - int(take.sum())
    if rest:
        order = np.lexsort((rng.random(len(quota)), -(quota - take)))
        take[order[:rest]] += 1
    picked = [rng.choice(rows.to_numpy(np.int64), size=t, replace=False)
              for (_, rows), t in zip(groups, take) if t]
    out = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    return rng.permutation(out)


@dataclass
class Band:
    first: int            # 1-based ranking position of the band's first flag
    last: int             # and of its last (export --drop-top `last` drops up to here)
    max_quality: float    # the highest label quality in the band
    reviewed: int
    errors: int
    share: float | None
    low: float
    high: float


@dataclass
class Estimate:
    flagged: int
    reviewed: int
    errors: int
    share: float | None
    low: float
    high: float
    bands: list[Band] = field(default_factory=list)

    def line(self) -> str:
        """'of the 419 flags, an estimated 8% (3%–19%) are wrong labels, from 40 reviewed at random'"""
        if not self.reviewed:
            return (f"of the {self.flagged:,} flags, none reviewed at random yet; "
                    "`clean-labels review RUN --sample 40` measures how many are wrong labels")
        return (f"of the {self.flagged:,} flags, an estimated {_pct(self.share)} "
                f"({_pct(self.low)}–{_pct(self.high)}) are wrong labels, from {self.reviewed} "
                "reviewed at random")

    def band_lines(self) -> list[str]:
        out = []
        for b in self.bands:
            est = (f"{_pct(b.share)} ({_pct(b.low)}–{_pct(b.high)}) wrong, from {b.reviewed} reviewed"
                   if b.reviewed else "none reviewed")
            out.append(f"flags {b.first:,}–{b.last:,} (label quality ≤ {b.max_quality:.3g}): {est}; "
                       f"`export --drop-top {b.last}` drops through here")
        return out

    def to_dict(self) -> dict:
        return {"flagged": self.flagged, "reviewed": self.reviewed, "errors": self.errors,
                "share": self.share, "low": self.low, "high": self.high,
                "bands": [vars(b) for b in self.bands]}


def _pct(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{100 * x:.0f}%" if x >= 0.1 or x == 0 else f"{100 * x:.1f}%"


def estimate(ranking: pd.DataFrame, sampled: pd.DataFrame, bands: int = BANDS) -> Estimate:
    """The share of flagged rows that are real errors, from sampled decisions.

    ranking: the run's ranking, most suspect first (row, is_label_issue, label_quality).
    sampled: decisions that apply to the run's current labels (row, decision), sampled rows only.
    """
    flags = ranking.loc[ranking["is_label_issue"].to_numpy(bool), ["row", "label_quality"]]
    verdict = pd.Series(sampled["decision"].isin(["relabel", "drop"]).to_numpy(),
                        index=sampled["row"].to_numpy(np.int64))
    judged = verdict.reindex(flags["row"].to_numpy(np.int64))
    seen = judged.notna().to_numpy()
    wrong = judged.fillna(False).to_numpy(bool)
    n, e = int(seen.sum()), int(wrong.sum())
    lo, hi = wilson(e, n)
    out = Estimate(len(flags), n, e, e / n if n else None, lo, hi)
    edges = np.linspace(0, len(flags), min(bands, len(flags)) + 1).round().astype(int)
    quality = flags["label_quality"].to_numpy(float)
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= a:
            continue
        bn, be = int(seen[a:b].sum()), int(wrong[a:b].sum())
        blo, bhi = wilson(be, bn)
        out.bands.append(Band(int(a) + 1, int(b), float(np.nanmax(quality[a:b])), bn, be,
                              be / bn if bn else None, blo, bhi))
    return out


def run_estimate(folder, ranking: pd.DataFrame | None = None) -> Estimate | None:
    """The estimate from RUN/decisions.csv's sampled rows, or None when the run has no sampled
    decision (a decisions file that cannot be read is left to the commands that apply it)."""
    from cleanlab_lite.decisions import match_decisions
    from cleanlab_lite.errors import UserInputError
    from cleanlab_lite.decisions import read_decisions

    path = folder.decisions_path
    if not path.is_file():
        return None
    try:
        decisions = read_decisions(path)
        if not decisions["sampled"].isin(["true", "True", "1"]).any():
            return None
        ranking = folder.read_ranking() if ranking is None else ranking
        matched = match_decisions(decisions, ranking, folder.class_names(ranking), str(path))
    except UserInputError:
        return None
    applied = matched.applied
    return estimate(ranking, applied[applied["sampled"].isin(["true", "True", "1"])])


def estimate_lines(run) -> list[str]:
    """What rank, export and check print about the sampled estimate: nothing when RUN has no
    sampled decision, else the overall line and one line per label-quality band."""
    from cleanlab_lite.run import Run

    est = run_estimate(Run(run))
    if est is None:
        return []
    return [f"Reviewed sample: {est.line()}."] + [f"  {b}" for b in est.band_lines()]
