"""Checking what a variant of the render benchmark produced (``--verify DIR``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bench.render.site import MARK_APP, MARK_FOOTER, MARK_HEADER, MARK_IMG, MARK_JS, PageSpec
from bench.render.variants import BASE_CHROMIUM_ARGS, CHROMIUM

# --------------------------------------------------------------------------
# 4. Checking what a variant produced
# --------------------------------------------------------------------------

_VERIFY_JS = """
async ([url, marks, tol]) => {
  const blob = await (await fetch(url)).blob();
  const bmp = await createImageBitmap(blob);
  const W = bmp.width, H = bmp.height;
  const cv = new OffscreenCanvas(W, H);
  const ctx = cv.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const d = ctx.getImageData(0, 0, W, H).data;
  const names = Object.keys(marks), M = names.map(k => marks[k]);
  const counts = new Array(M.length).fill(0), bottom = new Array(M.length).fill(0);
  const yb = Math.max(0, H - 300);
  let dark = 0, n = 0;
  // Every other pixel of every other row: marker blocks are large.
  for (let y = 0; y < H; y += 2) {
    let i = y * W * 4;
    for (let x = 0; x < W; x += 2, i += 8) {
      const r = d[i], g = d[i + 1], b = d[i + 2];
      n++;
      if (r * 299 + g * 587 + b * 114 < 90000) dark++;
      for (let j = 0; j < M.length; j++) {
        const m = M[j];
        if (Math.abs(r - m[0]) <= tol && Math.abs(g - m[1]) <= tol && Math.abs(b - m[2]) <= tol) {
          counts[j]++;
          if (y >= yb) bottom[j]++;
          break;
        }
      }
    }
  }
  const co = {}, bo = {};
  names.forEach((k, j) => { co[k] = counts[j] * 4; bo[k] = bottom[j] * 4; });
  return {width: W, height: H, counts: co, bottom: bo, dark: dark / n};
}
"""

# Minimum marker pixels (CSS px at scale 1) for a screenshot to count as showing it.
_THRESHOLDS = {"header": 20_000, "img": 8_000, "js": 4_000, "app": 4_000}
_FOOTER_BOTTOM_MIN = 20_000
_HEADER_MAX = 300_000  # the header band is 1280 x 120 = 154k px; twice that = repeated


def _verify(out_dir: str, pages_json: str, sample: str) -> None:
    """Check the DOM of every page and the screenshots of a sample (in Chromium)."""
    from playwright.async_api import async_playwright

    out = Path(out_dir)
    pages = [PageSpec(**p) for p in json.loads(Path(pages_json).read_text())]
    report: dict[str, Any] = {"dom_fail": [], "shot_fail": [], "missing": [], "shots": {}}
    for p in pages:
        html_file = out / f"{p.n}.html"
        if not html_file.exists():
            report["missing"].append(p.n)
            continue
        html = html_file.read_text(encoding="utf-8", errors="replace")
        problems = []
        if f'data-page="{p.n}"' not in html:
            problems.append("wrong page")
        if 'id="js-link"' not in html or f'href="{p.js_href}"' not in html:
            problems.append("inline-JS link missing")
        if 'id="app-related"' not in html or f'href="{p.app_href}"' not in html:
            problems.append("app.js link missing")
        if "</footer>" not in html:
            problems.append("footer missing")
        if problems:
            report["dom_fail"].append({"page": p.n, "problems": problems})
    shots = sorted(
        (f for f in out.iterdir() if f.suffix in (".png", ".jpg", ".webp")), key=lambda f: int(f.stem)
    )
    if sample != "all":
        k = int(sample)
        tall = [f for f in shots if pages[int(f.stem)].tall]
        rest = [f for f in shots if not pages[int(f.stem)].tall]
        step = max(1, len(rest) // max(1, k - len(tall)))
        shots = sorted(set(tall + rest[::step][: max(0, k - len(tall))]), key=lambda f: int(f.stem))
    marks = {"header": MARK_HEADER, "img": MARK_IMG, "js": MARK_JS, "app": MARK_APP, "footer": MARK_FOOTER}
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp"}

    async def run() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=list(BASE_CHROMIUM_ARGS))
            try:
                page = await browser.new_page()

                async def serve(route: Any) -> None:
                    name = route.request.url.rsplit("/", 1)[-1]
                    if name:
                        await route.fulfill(path=str(out / name), content_type=mime[Path(name).suffix])
                    else:
                        await route.fulfill(body="<html><body>verify</body></html>", content_type="text/html")

                await page.route("http://verify.invalid/**", serve)
                await page.goto("http://verify.invalid/")
                for f in shots:
                    s = await page.evaluate(_VERIFY_JS, [f"/{f.name}", marks, 28])
                    n = int(f.stem)
                    problems = [f"no {k}" for k, t in _THRESHOLDS.items() if s["counts"][k] < t]
                    if s["bottom"]["footer"] < _FOOTER_BOTTOM_MIN:
                        problems.append("footer not at the bottom (cut or blank)")
                    if s["dark"] < 0.003:
                        problems.append("no text")
                    if s["counts"]["header"] > _HEADER_MAX:
                        # Chromium sometimes returns the top of the page tiled
                        # down the whole height (header band seen many times).
                        problems.append("top of page repeated down the shot")
                    report["shots"][n] = {k: s[k] for k in ("width", "height", "dark")} | {
                        "counts": s["counts"], "bottom_footer": s["bottom"]["footer"]}
                    if problems:
                        report["shot_fail"].append({"page": n, "tall": pages[n].tall, "problems": problems,
                                                    "height": s["height"]})
            finally:
                await browser.close()

    asyncio.run(run())
    report["checked_shots"] = len(shots)
    (out / "verify.json").write_text(json.dumps(report, indent=1))

