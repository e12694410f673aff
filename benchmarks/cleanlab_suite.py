"""cleanlab's own tests against the drop-in modules `cleanlab_lite.compat.{filter,rank,count}`.

Takes cleanlab's public repository at tag v2.9.0, writes its `tests/test_filter_count.py` and
`tests/test_rank.py` into a temporary folder outside this repository, and runs pytest on them
with `cleanlab.filter`, `cleanlab.rank` and `cleanlab.count` replaced by the compat modules (the
rest of cleanlab, e.g. its noise generation and multi-label code, stays cleanlab's own; it is
imported before the swap so it keeps cleanlab's functions). Nothing of cleanlab's is copied into
this project. Prints the pass rate of the tests that are not about multi-label (out of scope)
and every test that does not pass, with its error.

    python benchmarks/cleanlab_suite.py --repo /path/to/cleanlab        # a clone (or its .git)
    python benchmarks/cleanlab_suite.py                                  # git clone from GitHub
    python benchmarks/cleanlab_suite.py --repo R --json out.json

Needs cleanlab 2.9.0 installed (the test extras) for the parts of cleanlab that are not swapped.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ("tests/test_filter_count.py", "tests/test_rank.py")
URL = "https://github.com/cleanlab/cleanlab"

CONFTEST = '''
import json, os, sys
sys.path.insert(0, {root!r})
import cleanlab
# cleanlab's own modules that the tests use, imported first so they bind cleanlab's functions
import cleanlab.benchmarking.noise_generation, cleanlab.internal.latent_algebra  # noqa
import cleanlab.internal.util, cleanlab.internal.multilabel_utils  # noqa
import cleanlab.internal.label_quality_utils, cleanlab.outlier  # noqa
import cleanlab.multilabel_classification.dataset, cleanlab.multilabel_classification.filter  # noqa
import cleanlab.experimental.label_issues_batched  # noqa
import functools, inspect, types
from cleanlab_lite.compat import count, filter, rank
ROUTED = {{"multi_label calls sent to cleanlab": 0}}


def _route_multi_label(ours, theirs):
    """multi_label=True (out of scope) goes to cleanlab's own function, so that the test files,
    which build multi-label data at import time, can be collected; multi-label tests are not
    counted. Every other call runs the compat function."""
    @functools.wraps(ours)
    def call(*a, **kw):
        if kw.get("multi_label"):
            ROUTED["multi_label calls sent to cleanlab"] += 1
            return theirs(*a, **kw)
        return ours(*a, **kw)
    return call


for name, mod in (("count", count), ("filter", filter), ("rank", rank)):
    real = sys.modules["cleanlab." + name]
    proxy = types.ModuleType("cleanlab." + name)
    for attr in dir(mod):
        obj = getattr(mod, attr)
        if callable(obj) and hasattr(real, attr) and "multi_label" in getattr(
                inspect.signature(obj), "parameters", {{}}) if inspect.isfunction(obj) else False:
            obj = _route_multi_label(obj, getattr(real, attr))
        setattr(proxy, attr, obj)
    sys.modules["cleanlab." + name] = proxy
    setattr(cleanlab, name, proxy)

RESULTS = {{}}


def _multilabel(item):
    name = item.name.lower()
    if "multilabel" in name:
        return True
    if "multi_label" in name:
        params = getattr(getattr(item, "callspec", None), "params", {{}})
        return params.get("multi_label", True) is not False
    return False


def pytest_collection_modifyitems(items):
    for item in items:
        RESULTS[item.nodeid] = {{"multilabel": _multilabel(item), "outcome": "not run",
                                 "message": ""}}


def pytest_deselected(items):
    for item in items:
        RESULTS.pop(item.nodeid, None)


def pytest_collectreport(report):
    if report.failed:
        RESULTS[report.nodeid] = {{"multilabel": False, "outcome": "error",
                                   "message": "collection: " + str(report.longrepr)[-400:]}}


def pytest_runtest_logreport(report):
    r = RESULTS.setdefault(report.nodeid, {{"multilabel": False, "outcome": "", "message": ""}})
    if report.failed:
        r["outcome"] = "failed"
        r["message"] = str(report.longrepr.reprcrash.message if hasattr(report.longrepr, "reprcrash")
                           and report.longrepr.reprcrash else report.longrepr)[:400]
    elif report.skipped and r["outcome"] != "failed":
        r["outcome"] = "skipped"
    elif report.when == "call" and report.passed and r["outcome"] != "failed":
        r["outcome"] = "passed"


def pytest_sessionfinish(session):
    with open(os.environ["COMPAT_RESULTS"], "w") as f:
        json.dump({{"tests": RESULTS, "routed": ROUTED}}, f, indent=1)
'''


def extract(repo: str | None, tag: str, dest: Path) -> None:
    """Write cleanlab's test files at `tag` into dest (from a local clone, else from GitHub)."""
    if repo is None:
        repo = str(dest / "cleanlab-src")
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", tag, URL, repo],
                       check=True)
    git_dir = repo if (Path(repo) / "HEAD").is_file() else str(Path(repo) / ".git")
    for path in TESTS:
        text = subprocess.run(["git", "--git-dir", git_dir, "show", f"{tag}:{path}"],
                              check=True, capture_output=True, text=True).stdout
        (dest / Path(path).name).write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=None, help="a clone of github.com/cleanlab/cleanlab (or its "
                                                 ".git); default: git clone it")
    ap.add_argument("--tag", default="v2.9.0")
    ap.add_argument("--json", default=None, help="also write every test's outcome here")
    ap.add_argument("-k", default=None, help="pytest -k expression (to run a subset)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cleanlab_suite_") as tmp:  # outside the repo
        d = Path(tmp)
        extract(args.repo, args.tag, d)
        (d / "conftest.py").write_text(CONFTEST.format(root=str(ROOT)))
        out = d / "results.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(d),
               "-W", "ignore::DeprecationWarning", "--continue-on-collection-errors"] + [str(d / Path(t).name) for t in TESTS]
        if args.k:
            cmd += ["-k", args.k]
        env = dict(os.environ, COMPAT_RESULTS=str(out))
        proc = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True)
        if not out.exists():
            print(proc.stdout[-4000:], proc.stderr[-4000:])
            return 2
        data = json.loads(out.read_text())
    results = data["tests"]
    single = {k: v for k, v in results.items() if not v["multilabel"]}
    passed = [k for k, v in single.items() if v["outcome"] == "passed"]
    rest = {k: v for k, v in single.items() if v["outcome"] != "passed"}
    rate = len(passed) / max(1, len(single))
    print(f"cleanlab {args.tag} tests/test_filter_count.py + tests/test_rank.py against "
          f"cleanlab_lite.compat: {len(results)} tests, {len(results) - len(single)} about "
          f"multi-label (out of scope, not counted)")
    print(f"(multi_label=True calls routed to cleanlab itself: "
          f"{data['routed']['multi_label calls sent to cleanlab']})")
    print(f"single-label: {len(passed)} of {len(single)} pass ({rate:.1%}; target 95%)")
    for k, v in sorted(rest.items()):
        print(f"  {v['outcome']:8s} {k}: {v['message'].splitlines()[0] if v['message'] else ''}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
