"""The order rows are visited in one epoch: a shuffle, or a class-balanced draw made afresh each
epoch (the alternative to class weights). It runs on the device of `rows` with the torch
generator it is given; the fold loop draws on the host with a generator of its own, so the
order does not depend on where the data are placed."""
from __future__ import annotations

import torch

from cleanlab_lite.errors import ConfigError
from cleanlab_lite.train.weighting import BALANCE


class EpochSampler:
    """Draws the row order for each epoch.

    rows:   (M,) long tensor of training row indices (into the full dataset)
    labels: (M,) long tensor, the given label of each of those rows
    mode:   none: a permutation of `rows`; oversample: every class drawn n_max times (all its
            rows once, plus draws with replacement); undersample: every class drawn n_min times
            without replacement. The union is shuffled.
    """

    def __init__(self, rows: torch.Tensor, labels: torch.Tensor, num_classes: int, mode: str,
                 generator: torch.Generator):
        mode = mode.lower()
        if mode not in BALANCE:
            raise ConfigError(f"--balance {mode!r} is not known; use one of {', '.join(BALANCE)}")
        self.rows, self.mode, self.gen = rows, mode, generator
        order = torch.argsort(labels, stable=True)
        counts = torch.bincount(labels, minlength=num_classes).tolist()
        self.groups = [g for g in torch.split(rows[order], counts) if g.numel() > 0]
        sizes = [g.numel() for g in self.groups]
        self.per_class = {"none": None, "oversample": max(sizes), "undersample": min(sizes)}[mode]

    def __len__(self) -> int:
        if self.per_class is None:
            return self.rows.numel()
        return self.per_class * len(self.groups)

    def epoch(self) -> torch.Tensor:
        """(len(self),) long tensor of row indices for one epoch."""
        dev = self.rows.device
        if self.per_class is None:
            return self.rows[torch.randperm(self.rows.numel(), generator=self.gen, device=dev)]
        target = self.per_class
        parts = []
        for g in self.groups:   # a loop over classes, not rows
            n = g.numel()
            perm = torch.randperm(n, generator=self.gen, device=dev)
            if target <= n:
                parts.append(g[perm[:target]])
            else:
                extra = torch.randint(n, (target - n,), generator=self.gen, device=dev)
                parts.append(torch.cat([g, g[extra]]))
        drawn = torch.cat(parts)
        return drawn[torch.randperm(drawn.numel(), generator=self.gen, device=dev)]
