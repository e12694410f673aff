"""Take docs/review.png: the review page of a ranked run after a few decisions, in headless
Chromium driven by Playwright (the system browser at /usr/bin/chromium, or $CHROMIUM).

    clean-labels demo --out demo-run
    python docs/review_screenshot.py demo-run/run docs/review.png

It makes decisions in RUN/decisions.csv (relabel, drop, keep); delete that file afterwards if
the run is to be reviewed for real.
"""
import os
import sys

from playwright.sync_api import sync_playwright

from cleanlab_lite.review import ReviewServer

run, out = sys.argv[1], sys.argv[2]
with ReviewServer(run, port=0) as srv, sync_playwright() as p:
    srv.start()
    browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1200, "height": 860})
    page.goto(srv.url)
    page.wait_for_selector('#review[data-ready="true"]')
    for i, key in enumerate(["a", "a", "x", " ", "a"]):
        page.keyboard.press(key)
        page.wait_for_selector(f'#rv-counter[data-decided="{i + 1}"]', state="attached")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=out)
    browser.close()
print(f"wrote {out}")
