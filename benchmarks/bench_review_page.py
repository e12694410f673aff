"""How fast the review page and the report are usable with many flagged rows, in Chromium.

Writes a synthetic image run (N rows of 10 classes, 28x28 PNGs drawn from a pool, 20% of the
labels flipped, out-of-fold probabilities that find most flips) so that about FLAGGED rows are
flagged, then measures in headless Chromium (Playwright, the system browser):

- review, paged (48 cards a page, the default): from navigation to the first page of cards on
  screen with every image decoded ("usable"), a key decision saved, a filter applied, the next page;
- the baseline, in the same run: the same page holding every flagged card at once (one long list,
  as a page without paging would);
- report: the time to build report.html (every flagged row, thumbnails embedded) and the time
  from opening it to its first page usable.

    python benchmarks/bench_review_page.py --flagged 10000 --work /tmp/bench-review
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

K = 10          # classes
POOL = 2000     # distinct PNG files the rows point at
NOISE = 0.2     # share of labels flipped


def write_run(work: Path, flagged: int, seed: int = 0) -> Path:
    """A ranked image run folder with about `flagged` flagged rows."""
    from PIL import Image

    from cleanlab_lite.ranking import build_table
    from cleanlab_lite.run import Run

    rng = np.random.default_rng(seed)
    n = int(flagged / NOISE)
    imgs = work / "imgs"
    imgs.mkdir(parents=True, exist_ok=True)
    for i in range(POOL):
        if not (imgs / f"{i}.png").exists():
            Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), "L").save(imgs / f"{i}.png")
    true = rng.integers(0, K, n)
    flip = rng.random(n) < NOISE
    given = np.where(flip, (true + rng.integers(1, K, n)) % K, true)
    alpha = np.full((n, K), 0.3)
    alpha[np.arange(n), true] = 6.0
    probs = np.stack([rng.dirichlet(a) for a in alpha]).astype(np.float32)
    pred = probs.argmax(1)
    quality = probs[np.arange(n), given]
    issue = pred != given
    classes = [str(c) for c in range(K)]
    run = work / "run"
    run.mkdir(parents=True, exist_ok=True)
    folder = Run(run)
    rows = pd.DataFrame({"id": [f"r{i:06d}" for i in range(n)], "label": [classes[g] for g in given],
                         "path": [f"imgs/{i % POOL}.png" for i in range(n)], "row": np.arange(n)})
    folder.write_rows(rows, np.arange(n) % 5)
    folder.write_classes(classes)
    folder.write_pred_probs(probs)
    order = np.lexsort((quality, ~issue))
    ranking = folder.write_ranking(build_table(
        order, rows=np.arange(n), classes=classes, given=given, predicted=pred, suggested=pred,
        quality=quality, is_issue=issue, suggested_confidence=probs.max(1), ids=rows["id"].to_numpy()))
    folder.write_config({"kind": "image", "data": {"label_col": "label", "path_col": "path",
                                                   "id_col": "id", "data_root": str(work)}})
    folder.write_summary({"n": n, "k": K, "num_flagged": int(issue.sum()), "method": "self_confidence"},
                         inputs=folder.input_records(), ranking=ranking)
    return run


USABLE = """() => {
  const r = document.getElementById('review');
  if (!r || r.getAttribute('data-ready') !== 'true') return false;
  const list = document.getElementById('rv-list');
  if (list.getBoundingClientRect().top > window.innerHeight / 2) list.scrollIntoView();
  const imgs = Array.from(document.querySelectorAll('li.rv-item .rv-media img'))
    .filter(i => { const b = i.getBoundingClientRect(); return b.bottom > 0 && b.top < window.innerHeight; });
  return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


def time_page(browser, url: str, *, server: bool) -> dict[str, float]:
    """Seconds to usable, and (server pages) to a saved key decision, a filter and the next page."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(USABLE, timeout=120_000, polling=20)
    out = {"usable": time.perf_counter() - t0}
    if server:
        t0 = time.perf_counter()
        page.keyboard.press("x")
        page.wait_for_selector('#rv-counter[data-decided="1"]', state="attached", timeout=60_000)
        out["decision"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    page.select_option("#rv-f-class", "3")
    page.wait_for_function("() => document.getElementById('review').getAttribute('data-shown') !== null")
    out["filter"] = time.perf_counter() - t0
    if page.inner_text("#rv-page").startswith("page 1 of 1 "):
        page.close()
        return out
    t0 = time.perf_counter()
    page.click("#rv-next")
    page.wait_for_function(USABLE, timeout=120_000, polling=20)
    out["next page"] = time.perf_counter() - t0
    page.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flagged", type=int, default=10_000)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from cleanlab_lite.report import build_report
    from cleanlab_lite.review import ReviewServer

    run = write_run(args.work, args.flagged)
    dec = run / "decisions.csv"
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
        for name, size in (("review, 48 cards a page", None), ("baseline: every card on one page", 10**7)):
            dec.unlink(missing_ok=True)
            with ReviewServer(run, port=0, page_size=size) as srv:
                srv.start()
                flagged = len(srv.session.items)
                results[name] = time_page(browser, srv.url, server=True)
        dec.unlink(missing_ok=True)
        t0 = time.perf_counter()
        build_report(run, progress=False)
        build = time.perf_counter() - t0
        results["report.html"] = time_page(browser, (run / "report.html").as_uri(), server=False)
        browser.close()
    size_mb = (run / "report.html").stat().st_size / 1e6
    print(f"{flagged:,} flagged rows of {len(pd.read_parquet(run / 'rows.parquet')):,}; Chromium, "
          f"{os.cpu_count()} CPUs")
    for name, r in results.items():
        print(f"  {name:34s} " + ", ".join(f"{k} {v:.2f} s" for k, v in r.items()))
    print(f"  report.html built in {build:.1f} s, {size_mb:.1f} MB")


if __name__ == "__main__":
    main()
