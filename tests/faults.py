"""Faults for the fold tests, in a module of its own so fold processes and Ray workers can
import (or receive) `faulty_fold` by name (see the `inject_faults` fixture in conftest.py)."""
from __future__ import annotations

import os
import time
from pathlib import Path

FAULT_MODES = ("raise", "raise-once", "exit-once", "sleep")


def faulty_fold(ds, job, cfg, *, inner: str, faults: dict, seen: str, **kw):
    """The run_fold of module `inner` with faults: faults maps a fold index to raise (always
    fails), raise-once / exit-once (the first attempt raises / kills its worker process, a retry
    succeeds; the first attempt leaves a file in `seen`) or sleep (hangs five minutes first, longer
    than the other folds take on a busy machine)."""
    mode = faults.get(job.fold)
    if mode == "raise":
        raise RuntimeError(f"injected fault in {job.desc}")
    if mode == "sleep":
        time.sleep(300)
    elif mode in ("raise-once", "exit-once"):
        marker = Path(seen) / f"fold-{job.fold}"
        if not marker.exists():
            marker.touch()
            if mode == "exit-once":
                os._exit(17)
            raise RuntimeError(f"injected fault in {job.desc} (first attempt)")
    import importlib

    module = importlib.import_module(inner)      # a fresh import in a worker: the real run_fold
    return getattr(module, "_run_fold_before_faults", module.run_fold)(ds, job, cfg, **kw)
