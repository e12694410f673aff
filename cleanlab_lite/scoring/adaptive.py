"""The adaptive flags: confident learning on calibrated, sharpened pred_probs.

Confident learning counts a row as an issue when another class j passes its threshold t_j (the
mean p_j of the rows labeled j). That count is too low on human label noise (the mislabeled
images are the ambiguous ones, rarely above t_j) and collapses on a sharp model (every t_j is
near 1). The rule here keeps the count but changes the probabilities it is taken on:

  1. fit a temperature T_fit to the GIVEN labels (minimum mean negative log-likelihood of
     softmax(log p / T); the truth is never used), which undoes the model's over/under-confidence;
  2. sharpen by a fixed factor: T = SHARPEN * T_fit; as T -> 0 the count grows from the
     confident-learning count toward the number of rows predicted as another class;
  3. recompute the thresholds and count the rows, predicted as another class, that are off the
     confident joint's diagonal at temperature T (the sharpened count);
  4. near-clean data: when the model disagrees with more than MODEL_MISTAKES of the rows but the
     sharpened count is under LOW_NOISE of them and under MOSTLY_COUNTED of the disagreements,
     most disagreements are the model's own mistakes;
     the count is capped by the candidates whose label is more likely wrong than right at T_fit
     (error_posterior, below): more likely wrong than right (posterior > 0.5) with the
     self-confidence order, above POSTERIOR_CUT with the noise-posterior order;
  5. a weak model (the count is at least WEAK_RATIO x the accuracy, trust.py) on at least
     LARGE_ROWS_PER_CLASS rows per class: a candidate the sharpened joint leaves out is still
     mislabeled with about the estimated noise rate r = count / N, so r x (candidates - count)
     is added;
  6. cleanlab's default count on the same rows (prune_by_noise_rate with its argmax rule) caps
     the count where the sharpened count over-flags: near-clean data (step 4), fewer than
     SMALL_ROWS_PER_CLASS rows per class, and a weak model on fewer than LARGE_ROWS_PER_CLASS
     rows per class; never with fewer than CAP_MIN_ROWS_PER_CLASS rows per class. Human label noise on enough rows per class keeps the higher count.

Which rows: with at least NOISE_ORDER_MIN_ROWS rows per class, the `count` candidates with the
highest P(label wrong | row) under class-conditional noise, N[g, t] q_t normalized over t, with N
the noise matrix of the confident joint at T and q the pred_probs at T (error_posterior); this
keeps the flags off confusions the labels do not show (a pair of classes the model mixes up
without label noise behind it). With fewer rows per class the matrix is too noisy and the flags
are the candidates with the lowest self-confidence. Probabilities are floored at 1% of uniform
first. SHARPEN was tuned on one model per dataset of the real-noise sets (docs/scoring.md).
Monotone per row, the temperature never changes a row's argmax. On large inputs T_fit, the
thresholds and the noise matrix come from an evenly spaced sample of the rows ordered by class
(SAMPLE_CELLS values, at least MIN_ROWS_PER_CLASS rows per class on average), and the count from
an evenly spaced sample of the candidate rows; below that size everything is exact.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from cleanlab_lite.scoring import count
from cleanlab_lite.scoring.trust import WEAK_RATIO
from cleanlab_lite.scoring._source import concat, map_chunks

SHARPEN = 0.45              # T = SHARPEN * T_fit (tuned on the resnet50d real-noise sets)
SAMPLE_CELLS = 1_000_000    # rows x K used for T_fit and thresholds, and for the candidate test
MIN_ROWS_PER_CLASS = 20     # ... but at least this many rows per class on average (large K)
FLOOR = 0.01                # probabilities below FLOOR / K count as FLOOR / K (1% of uniform):
                            # exact zeros (kNN, tree models) would otherwise dominate T_fit
BETA_RANGE = (1e-2, 1e3)    # 1/T searched in this range
EPS = 1e-6                  # threshold tolerance, as cleanlab's
NOISE_ORDER_MIN_ROWS = 500  # rows per class (N / K) from which the flags are ordered by the
                            # noise-matrix posterior; below, the matrix is too noisy and
                            # self-confidence orders them
MODEL_MISTAKES = 0.02       # when the model disagrees with more than this share of rows and
LOW_NOISE = 0.06            # fewer than this share is counted at T, the count is capped by the
                            # rows more likely mislabeled than not at T_fit (posterior count)
MOSTLY_COUNTED = 0.8        # ... and under this share of the disagreements (a count that covers
                            # most of them says they are label errors, not the model's mistakes:
                            # 5% confusable flips on MNIST count 508 of 563; the near-clean dev
                            # sets at most 0.75 of them)
POSTERIOR_CUT = 0.7         # the near-clean cap's posterior cut with the noise-posterior order
SMALL_ROWS_PER_CLASS = 200  # below this many rows per class cleanlab's count caps the count
CAP_MIN_ROWS_PER_CLASS = 50  # ... but never below this many: cleanlab's thresholds are then means
                            # of a handful of rows and it often counts nothing (one clearly wrong
                            # row among 30 per class)
LARGE_ROWS_PER_CLASS = 1000  # a weak model: below, cleanlab's count caps; from here, the
                            # uncounted candidates are added at the estimated noise rate
TERM_CUT = 1e-2             # error_posterior leaves out classes whose tempered probability is
                            # below this share of the row's largest


def _log(P: np.ndarray) -> np.ndarray:
    """log of the probabilities, floored at FLOOR / K."""
    return np.log(np.clip(P, FLOOR / max(1, P.shape[1]), None))


def _softmax(z: np.ndarray, beta: float) -> np.ndarray:
    a = z * beta
    a -= a.max(axis=1, keepdims=True)
    np.exp(a, out=a)
    a /= a.sum(axis=1, keepdims=True)
    return a


def fit_temperature(P: np.ndarray, y: np.ndarray, iters: int = 60) -> float:
    """T minimizing the mean NLL of labels `y` under softmax(log P / T); P (n, K), y (n,).

    The NLL is convex in beta = 1/T (its second derivative is the variance of log p under the
    tempered distribution), so a Newton step kept inside a shrinking bracket converges in a few
    steps. Returns T in [1/BETA_RANGE[1], 1/BETA_RANGE[0]]."""
    if len(y) == 0:
        return 1.0
    z = _log(P)
    zy = z[np.arange(len(y)), y]
    z2 = z * z
    lo, hi = BETA_RANGE
    beta = 1.0
    for _ in range(iters):
        q = _softmax(z, beta)
        ez = np.einsum("ij,ij->i", q, z)
        grad = float(np.mean(ez - zy))
        hess = float(np.mean(np.einsum("ij,ij->i", q, z2) - ez * ez))
        if grad > 0:
            hi = beta
        else:
            lo = beta
        new = beta - grad / hess if hess > 1e-12 else np.nan
        if not lo < new < hi:
            new = float(np.sqrt(lo * hi))          # bisect in log space
        if abs(new - beta) <= 1e-6 * beta or hi / lo < 1 + 1e-9:
            beta = new
            break
        beta = new
    return float(1.0 / beta)


def tempered_thresholds(P: np.ndarray, y: np.ndarray, k: int, temperature: float) -> np.ndarray:
    """Per-class thresholds (mean tempered self-confidence of the rows labeled k), shape (K,)."""
    z = _log(P)
    q = _softmax(z, 1.0 / temperature)
    return count.confident_thresholds(y, q[np.arange(len(y)), y], k)


def off_diagonal_at(P: np.ndarray, y: np.ndarray, thresholds: np.ndarray,
                    temperature: float) -> np.ndarray:
    """Rows (of P, shape (n, K)) counted off the confident joint's diagonal at `temperature`:
    some class passes its threshold and the most likely passing class is not the given one."""
    if len(y) == 0:
        return np.zeros(0, dtype=bool)
    q = _softmax(_log(P), 1.0 / temperature)
    q *= q >= thresholds - EPS
    guess = q.argmax(axis=1)
    return (q[np.arange(len(y)), guess] > 0) & (guess != y)


def evenly_spaced(idx: np.ndarray, m: int) -> np.ndarray:
    """At most m entries of idx, evenly spaced (all of them when len(idx) <= m)."""
    if len(idx) <= m:
        return idx
    return idx[(np.arange(m, dtype=np.int64) * len(idx)) // m]


def joint_at(P: np.ndarray, y: np.ndarray, k: int, thresholds: np.ndarray,
             temperature: float) -> np.ndarray:
    """The confident joint (K, K) of rows P (n, K) at `temperature`: C[given, guessed true]
    counts the rows where some class passes its threshold (diagonal at least 1, as cleanlab's)."""
    q = _softmax(_log(P), 1.0 / temperature)
    q *= q >= thresholds - EPS
    guess = q.argmax(axis=1)
    has = q[np.arange(len(y)), guess] > 0
    cj = np.bincount(y[has] * k + guess[has], minlength=k * k).reshape(k, k)
    np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
    return cj


def error_posterior(P: np.ndarray, y: np.ndarray, noise: np.ndarray,
                    temperature: float) -> np.ndarray:
    """P(the given label is wrong | row), shape (n,), for rows P (n, K) with labels y: under
    class-conditional noise P(true t | row, given g) is proportional to N[g, t] q_t, with N the
    noise matrix P(given | true) (K, K) and q the pred_probs at `temperature` (floored as in
    _log). Classes whose tempered probability is below TERM_CUT of the row's largest are left
    out of the sum (their terms are that small); the given class never is. Computed in the
    dtype of P."""
    n = len(y)
    if n == 0:
        return np.zeros(0)
    beta = 1.0 / temperature
    if P.dtype.kind != "f":
        P = P.astype(np.float64)
    P = np.maximum(P, P.dtype.type(FLOOR / P.shape[1]))
    top = P.max(axis=1)
    keep = P >= (top * TERM_CUT ** temperature)[:, None]        # (p / top) ** beta >= TERM_CUT
    ar = np.arange(n)
    keep[ar, y] = False
    r, t = np.nonzero(keep)
    w = np.exp(np.log(P[r, t] / top[r]) * beta)
    own = np.exp(np.log(P[ar, y] / top) * beta) * noise[y, y]
    other = np.bincount(r, weights=w * noise[y[r], t], minlength=n)
    return other / (own + other)


def posterior_of(eng, rows: np.ndarray, noise: np.ndarray, temperature: float) -> np.ndarray:
    """error_posterior for the engine's rows `rows` (sorted), chunk by chunk on its threads."""
    rows = np.asarray(rows, dtype=np.int64)
    y = eng.labels

    def fn(chunk, start, stop):
        lo, hi = np.searchsorted(rows, (start, stop))
        sel = rows[lo:hi]
        P = chunk[sel - start]
        if eng.renormalize and len(P):
            P = P / P.sum(axis=1, keepdims=True)
        return {"e": error_posterior(P, y[sel], noise, temperature)}

    res = map_chunks(eng.source, fn, chunk_rows=eng.chunk_rows, threads=eng.threads)
    return concat(res, "e")


def adaptive_count(eng) -> dict:
    """The adaptive number of label issues of an Engine, how it was obtained, and what orders
    the flags.

    Returns {"num_issues" (the flag count), "sharpened_count" (candidates off the diagonal at T),
    "candidates" (rows whose given label is not the argmax), "counted" (candidates off the
    diagonal at T in the candidate sample), "temperature_fit", "sharpen", "temperature",
    "order" ("noise_posterior" or "self_confidence"), "low_noise", "posterior_count" (low
    noise only), "weak_model", "weak_model_added" (step 5), "cleanlab_cap" (cleanlab's default
    count where step 6 applies, else None), "noise_matrix" (K, K), "sample_rows",
    "candidate_sample_rows", "exact"}."""
    if "adaptive" in eng.stats:
        return dict(eng.stats["adaptive"])
    eng.ensure_a()
    n, k = eng.n, eng.k
    y = eng.labels
    cand = np.flatnonzero(~eng.reduce_mask)
    budget = max(SAMPLE_CELLS // k, MIN_ROWS_PER_CLASS * k)
    small = y.astype(np.int16) if k < 2**15 else y          # radix sort for small ints
    by_class = np.argsort(small, kind="stable")          # a sample spread over every class
    sample = np.sort(evenly_spaced(by_class, budget))
    cand_s = evenly_spaced(cand, budget)
    rows = np.union1d(sample, cand_s)
    P = eng.take(rows)
    at = {"sample": np.searchsorted(rows, sample), "cand": np.searchsorted(rows, cand_s)}
    ps, ys = P[at["sample"]], y[sample]
    t_fit = fit_temperature(ps, ys)
    temp = SHARPEN * t_fit
    thr = tempered_thresholds(ps, ys, k, temp)
    off = off_diagonal_at(P[at["cand"]], y[cand_s], thr, temp)
    counted = int(off.sum())
    scale = len(cand) / max(1, len(cand_s))
    num = counted if len(cand_s) == len(cand) else int(round(counted * scale))
    counts = np.bincount(ys, minlength=k)
    noise = np.eye(k) if n == 0 else count.latent(
        count.calibrate(joint_at(ps, ys, k, thr, temp), counts), counts)[1]
    info = {"sharpened_count": num, "candidates": int(len(cand)), "counted": counted,
            "temperature_fit": t_fit, "sharpen": SHARPEN, "temperature": temp,
            "order": "noise_posterior" if n >= NOISE_ORDER_MIN_ROWS * k else "self_confidence",
            "low_noise": False, "noise_matrix": noise,
            "sample_rows": int(len(sample)), "candidate_sample_rows": int(len(cand_s)),
            "exact": bool(len(sample) == n and len(cand_s) == len(cand))}
    if len(cand) > MODEL_MISTAKES * n and num < LOW_NOISE * n and num < MOSTLY_COUNTED * len(cand):
        # few errors among many disagreements: most are the model's own mistakes; count the
        # candidates whose label is most likely wrong at the calibrated T_fit
        cut = 0.5 if info["order"] == "self_confidence" else POSTERIOR_CUT
        post = int(round((posterior_of(eng, cand_s, noise, t_fit) > cut).sum() * scale))
        info["posterior_count"] = post
        info["low_noise"] = True
    info["num_issues"] = min(num, info["posterior_count"]) if info["low_noise"] else num
    _weak_model_and_cap(eng, info)
    eng.stats["adaptive"] = info
    return dict(info)


def _weak_model_and_cap(eng, info: dict) -> None:
    """Steps 5 and 6 of the rule on info (adaptive_count's dict): adds "weak_model",
    "weak_model_added" and "cleanlab_cap" (None where no cap applies), updates "num_issues"."""
    n, k, num, cand = eng.n, eng.k, info["num_issues"], info["candidates"]
    weak = n > 0 and num >= WEAK_RATIO * (1 - cand / n) * n
    large = n >= LARGE_ROWS_PER_CLASS * k
    added = int(round(num / n * (cand - num))) if weak and large else 0
    info["weak_model"], info["weak_model_added"] = bool(weak), added
    info["num_issues"] = num + added
    capped = n >= CAP_MIN_ROWS_PER_CLASS * k and (
        info["low_noise"] or n < SMALL_ROWS_PER_CLASS * k or (weak and not large))
    info["cleanlab_cap"] = cleanlab_count(eng) if capped else None
    if capped:
        info["num_issues"] = min(info["num_issues"], info["cleanlab_cap"])


def cleanlab_count(eng) -> int:
    """cleanlab's default number of flags on the engine's rows: prune_by_noise_rate on the
    calibrated confident joint taken with cleanlab's argmax rule, less the rows whose given label
    is the argmax (one more pass over the rows that need it, on a copy of the engine)."""
    shared = {key: eng.stats[key] for key in ("given", "argmax", "maxp", "thresholds", "reduce")
              if key in eng.stats}
    twin = replace(eng, cj_argmax="cleanlab", stats=shared)
    counts = twin.label_counts
    prune = count.keep_at_least_n_per_class(twin.calibrated_joint().T, 1).T * (counts > 1)[:, None]
    np.fill_diagonal(prune, 0)
    return int((twin.margin_candidates(prune) & ~twin.reduce_mask).sum())


def flag_scores(eng) -> np.ndarray:
    """What orders the adaptive flags, shape (N,), lower = flagged first: minus the error
    posterior at T (noise_posterior order) or the self-confidence, +inf where a row is never
    flagged (its given label is the argmax)."""
    if "adaptive_scores" in eng.stats:
        return eng.stats["adaptive_scores"]
    info = adaptive_count(eng)
    never = eng.reduce_mask
    if info["order"] == "self_confidence":
        out = np.where(never, np.inf, eng.stats["given"])
    else:
        cand = np.flatnonzero(~never)
        out = np.full(eng.n, np.inf)
        out[cand] = -posterior_of(eng, cand, info["noise_matrix"], info["temperature"])
    eng.stats["adaptive_scores"] = out
    return out


def lowest(scores: np.ndarray, m: int) -> np.ndarray:
    """Mask of the m rows with the lowest score (ties: the lower row index first), shape (N,)."""
    n = len(scores)
    mask = np.zeros(n, dtype=bool)
    m = int(min(max(m, 0), n))
    if m == 0:
        return mask
    cut = np.partition(scores, m - 1)[m - 1]
    mask = scores < cut
    short = m - int(mask.sum())
    if short > 0:
        mask[np.flatnonzero(scores == cut)[:short]] = True
    return mask
