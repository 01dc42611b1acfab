"""Open a report in headless Chromium (Playwright) and check it the way a reader meets it.

The browser is the system's Chromium (``apt-get install chromium``; ``make test`` installs it
when run as root), launched through Playwright's ``executable_path``: nothing is downloaded
at test time. ``REPALIGN_CHROMIUM`` names another executable. Without a browser the tests
skip, except under ``CI=true``, where a missing browser fails them.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

WIDTHS = {"phone": 390, "desktop": 1280}
ROOT = Path(__file__).resolve().parents[1]


def artifact_dir() -> Path:
    """Where screenshots go (``REPALIGN_TEST_ARTIFACTS``, default ``test-artifacts/``; gitignored)."""
    path = Path(os.environ.get("REPALIGN_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium_path() -> str | None:
    env = os.environ.get("REPALIGN_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def unavailable(reason: str):
    """Fail under CI (the browser test must run there), skip elsewhere."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser test cannot run in CI: {reason} (`make test` installs chromium as root)")
    pytest.skip(reason)


class ReportBrowser:
    """One headless Chromium; :meth:`check` opens a report.html and returns the problems found."""

    def __init__(self, executable: str) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()

    def check(self, html_path: Path, name: str, widths: dict[str, int] = WIDTHS) -> dict:
        """Problems (lists of strings, empty when fine) and the screenshot paths."""
        page = self.browser.new_page(viewport={"width": widths["desktop"], "height": 900})
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                else None)
        page.on("pageerror", lambda e: console.append(f"page error: {e}"))
        page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
        out = {"console": console, "images": page.evaluate(_IMAGES_JS), "anchors": page.evaluate(_ANCHORS_JS),
               "structure": page.evaluate(_STRUCTURE_JS), "overflow": [], "screenshots": {},
               "n_images": page.evaluate("document.images.length"),
               "n_sections": page.evaluate("document.querySelectorAll('section[id^=sec-]').length")}
        for label, width in widths.items():
            page.set_viewport_size({"width": width, "height": 900})
            sw, iw = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            if sw > iw:
                out["overflow"].append(f"{label} ({width} px): page is {sw} px wide; wider elements: "
                                       + ", ".join(page.evaluate(_WIDE_JS)))
            shot = artifact_dir() / f"{name}_{label}.png"
            page.screenshot(path=str(shot), full_page=False)
            out["screenshots"][label] = shot
        page.close()
        return out


_IMAGES_JS = """Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))
  .map(i => i.alt || i.src.slice(0, 40))"""
_ANCHORS_JS = """Array.from(document.querySelectorAll('a[href^="#"]'))
  .map(a => a.getAttribute('href')).filter(h => !document.getElementById(decodeURIComponent(h.slice(1))))"""
_WIDE_JS = """Array.from(document.body.querySelectorAll('*')).filter(e => e.getBoundingClientRect().right >
  document.documentElement.clientWidth + 1 && !e.closest('.tablewrap, pre'))
  .slice(0, 5).map(e => e.tagName + (e.className ? '.' + e.className : ''))"""
# headline first: every study section's first element after the <h2> is a non-empty p.finding;
# parameters/JSON only in collapsed <details> (every <pre> sits in a closed <details>)
_STRUCTURE_JS = """(() => {
  const bad = [];
  for (const s of document.querySelectorAll('section[id^=sec-]')) {
    const [h, f] = s.children;
    const title = h ? h.textContent : s.id;
    if (!h || h.tagName !== 'H2') bad.push(s.id + ': first element is not <h2>');
    if (!f || f.tagName !== 'P' || !f.classList.contains('finding') || f.classList.contains('none')
        || f.textContent.trim().length < 20) bad.push(title + ': no finding paragraph after the heading');
    const kids = Array.from(s.children);
    const firstDetails = kids.findIndex(k => k.tagName === 'DETAILS');
    if (firstDetails >= 0 && kids.slice(firstDetails).some(k => k.tagName !== 'DETAILS'))
      bad.push(title + ': content after the collapsed parameters/JSON');
  }
  for (const p of document.querySelectorAll('pre')) {
    const d = p.closest('details');
    if (!d || d.open) bad.push('a <pre> block outside a collapsed <details>');
  }
  for (const d of document.querySelectorAll('details')) if (d.open) bad.push('an open <details>');
  return bad;
})()"""


def problems(result: dict) -> list[str]:
    """All problems of a :meth:`ReportBrowser.check` result, one string each."""
    out = [f"console: {c}" for c in result["console"]]
    out += [f"image does not decode: {i}" for i in result["images"]]
    out += [f"link without target: {a}" for a in result["anchors"]]
    out += [f"horizontal scroll: {o}" for o in result["overflow"]]
    out += [f"structure: {s}" for s in result["structure"]]
    return out


def finding_count(html_text: str) -> int:
    return len(re.findall(r'<p class="finding">', html_text))
