"""When the flags cannot be trusted: warnings computed from the labels, the model's predictions and
the flags alone (no truth), written to summary.json["warnings"] and printed by `rank`.

Each warning is a dict with a stable `code`, a `message` for people, and the numbers behind it:

  near_chance            out-of-fold accuracy within NEAR_CHANCE of the headroom above chance
  most_rows_flagged      more than MAX_FLAGGED_SHARE of all rows flagged
  weak_model             the flagged rate is at least WEAK_RATIO x the out-of-fold accuracy: the
                         model is wrong about so many rows that its own mistakes and the label
                         errors look alike (not repeated when near_chance is given)
  confuses_every_class   every class has at least SPREAD_SHARE of its rows predicted as another
                         class: the disagreements are spread over all classes, not on a few pairs
  class_mostly_flagged   a class with more than CLASS_FLAGGED_SHARE of its rows flagged (one per
                         class)
  class_never_learned    a class with rows that the model (almost) never predicts for them: its
                         recall is below NEVER_LEARNED_RECALL (e.g. all its training weights 0)

A strong model on data with little noise gives none of them.
"""
from __future__ import annotations

import numpy as np

NEAR_CHANCE = 0.10          # accuracy < chance + this share of the headroom above chance
MAX_FLAGGED_SHARE = 0.5     # more than this share of all rows flagged
WEAK_RATIO = 0.5            # flagged rate >= this x out-of-fold accuracy
SPREAD_SHARE = 1 / 3        # every class has at least this share of its rows predicted elsewhere
CLASS_FLAGGED_SHARE = 0.5   # a class with more than this share of its rows flagged
NEVER_LEARNED_RECALL = 0.02  # a class whose rows get it as the argmax less often than this
MIN_CLASS_ROWS = 5          # per-class warnings only for classes with at least this many rows


def _entry(code: str, message: str, **numbers) -> dict:
    return {"code": code, "message": message, **numbers}


def model_warnings(labels: np.ndarray, predicted: np.ndarray, issues: np.ndarray,
                   k: int) -> list[dict]:
    """Warnings about the whole model: near chance, most rows flagged, weak, confuses every class.
    labels, predicted (N,) class indices; issues (N,) bool."""
    n = len(labels)
    if n == 0:
        return []
    out = []
    counts = np.bincount(labels, minlength=k)
    acc = float(np.mean(predicted == labels))
    chance = float(counts.max() / n)
    rate = float(issues.mean())
    if acc < chance + NEAR_CHANCE * (1 - chance):
        out.append(_entry(
            "near_chance",
            f"out-of-fold accuracy {acc:.1%} is near chance ({chance:.1%}, always predicting the "
            f"largest class), so the flags say little about the labels; train a stronger model "
            f"(more --epochs, another --model or features) before acting on them",
            oof_accuracy=acc, chance=chance))
    elif rate > 0 and rate >= WEAK_RATIO * acc:
        out.append(_entry(
            "weak_model",
            f"{rate:.1%} of rows are flagged by a model that is right on only {acc:.1%} of them: "
            f"its own mistakes and the label errors look alike here, so many flags may be correct "
            f"labels; review a sample (clean-labels review RUN --sample 50) before dropping rows, "
            f"or train a stronger model",
            oof_accuracy=acc, flagged_rate=rate))
    if rate > MAX_FLAGGED_SHARE:
        out.append(_entry(
            "most_rows_flagged",
            f"{rate:.1%} of rows are flagged, more than half; the model or the label column is "
            f"likely wrong (check --label-col and the out-of-fold accuracy) rather than the labels",
            flagged_rate=rate))
    present = counts >= MIN_CLASS_ROWS
    if k >= 3 and present.sum() >= 3:
        wrong = np.bincount(labels[predicted != labels], minlength=k) / np.maximum(counts, 1)
        if (wrong[present] >= SPREAD_SHARE).all():
            low = float(wrong[present].min())
            out.append(_entry(
                "confuses_every_class",
                f"the model predicts another class for at least {low:.0%} of the rows of every "
                f"class: the disagreements are spread over all classes rather than a few "
                f"confusable pairs, which is what a weak model looks like; treat the flags as "
                f"candidates to review, not as errors",
                min_class_disagreement=low))
    return out


def class_warnings(labels: np.ndarray, predicted: np.ndarray, issues: np.ndarray,
                   classes: list) -> list[dict]:
    """Per-class warnings: a class the model never learned, a class with most rows flagged."""
    k = len(classes)
    counts = np.bincount(labels, minlength=k)
    flagged = np.bincount(labels[issues], minlength=k)
    right = np.bincount(labels[predicted == labels], minlength=k)
    out = []
    for c in np.flatnonzero(counts >= MIN_CLASS_ROWS):          # a loop over classes, not rows
        name = str(classes[c])
        if right[c] < NEVER_LEARNED_RECALL * counts[c]:
            out.append(_entry(
                "class_never_learned",
                f"class {name!r}: the model predicts it for {int(right[c])} of its "
                f"{int(counts[c])} rows, so it never learned the class (were all its rows weighted 0 by "
                f"--weight-col, or is it too rare?); its {int(flagged[c])} flags are not evidence "
                f"of wrong labels",
                class_name=name, rows=int(counts[c]), predicted_right=int(right[c]),
                flagged=int(flagged[c])))
        elif flagged[c] > CLASS_FLAGGED_SHARE * counts[c]:
            out.append(_entry(
                "class_mostly_flagged",
                f"class {name!r}: {int(flagged[c])} of its {int(counts[c])} rows are flagged "
                f"({flagged[c] / counts[c]:.0%}); check that class's labels and its training data "
                f"before dropping them (export --drop-flagged refuses without --allow-class-loss)",
                class_name=name, rows=int(counts[c]), flagged=int(flagged[c])))
    return out


def flag_warnings(labels: np.ndarray, predicted: np.ndarray, issues: np.ndarray,
                  classes: list) -> list[dict]:
    """All warnings, whole-model ones first."""
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    issues = np.asarray(issues, dtype=bool)
    return (model_warnings(labels, predicted, issues, len(classes))
            + class_warnings(labels, predicted, issues, classes))
