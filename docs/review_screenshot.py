"""Take the screenshots of docs/review.md in headless Chromium driven by Playwright (the system
browser at /usr/bin/chromium, or $CHROMIUM):

- review-grid.png: the review page of a ranked image run, grid view, a few cards selected;
- review-estimate.png: `review --sample 40` after the sample was decided by a reviewer who knows
  the true labels (the manifest's true_label column, as `clean-labels demo` writes it).

    clean-labels demo --out demo-run
    python docs/review_screenshot.py demo-run/run demo-run/data/manifest.csv docs

It writes RUN/decisions.csv and deletes it at the end.
"""
import os
import sys
from pathlib import Path

import pandas as pd
from playwright.sync_api import sync_playwright

from cleanlab_lite.review import ReviewServer

run, manifest, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
truth = pd.read_csv(manifest, dtype=str)["true_label"].to_numpy()
decisions = run / "decisions.csv"
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                args=["--no-sandbox"])
    with ReviewServer(run, port=0) as srv:
        srv.start()
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(srv.url)
        page.wait_for_selector('#review[data-ready="true"]')
        for i in (1, 2, 3):
            page.locator("li.rv-item").nth(i).locator(".rv-check").click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "review-grid.png"))
        page.close()
    with ReviewServer(run, port=0, sample=40, seed=0) as srv:
        srv.start()
        items = {it["row"]: it for it in srv.session.items}
        page = browser.new_page(viewport={"width": 1280, "height": 700})
        page.goto(srv.url)
        page.wait_for_selector('#review[data-ready="true"]')
        for n in range(1, 41):
            it = items[int(page.get_attribute("#review", "data-current-row"))]
            right = truth[it["row"]]
            page.keyboard.press(" " if right == it["given_label"] else right)
            page.wait_for_selector(f'#rv-counter[data-decided="{n}"]', state="attached")
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "review-estimate.png"))
        page.close()
    browser.close()
decisions.unlink(missing_ok=True)
print(f"wrote {out / 'review-grid.png'} and {out / 'review-estimate.png'}")
