"""The HTML report as a person sees it: rendered by headless Chromium."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
from reporting_synth import standard_spec, write_run

from harness.reporting import write_reports
from tests.browser import browser_marks, chromium

pytestmark = browser_marks

# Runs in the rendered page after load: what a reader would see of every plot and the verdict.
PROBE = """<script>
window.addEventListener('load', () => {
  const images = [...document.querySelectorAll('img.plot')].map(img => ({
    key: img.dataset.plot, complete: img.complete,
    width: img.naturalWidth, height: img.naturalHeight,
    shown: img.getBoundingClientRect().width }));
  const verdict = document.getElementById('verdict');
  const probe = document.createElement('pre');
  probe.id = 'probe';
  probe.textContent = JSON.stringify({images, verdict: verdict.innerText,
    background: getComputedStyle(verdict).backgroundColor});
  document.body.appendChild(probe);
});
</script>"""


def test_rendered_report_shows_verdict_and_every_plot(tmp_path: Path) -> None:
    """EVT-1, RED-1: a run with leaks renders a red FAIL verdict and every plot loaded."""
    run_dir = write_run(tmp_path / "run", standard_spec())
    write_reports(run_dir)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    expected_plots = set(re.findall(r'data-plot="([^"]+)"', html))
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dumped = chromium(tmp_path, "--dump-dom", probed.as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', dumped.stdout, re.S)
    assert match, dumped.stderr[-2000:]
    seen = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert seen["verdict"].startswith("FAIL")
    assert seen["background"] == "rgb(251, 227, 227)"  # the red verdict box
    assert {img["key"] for img in seen["images"]} == expected_plots and len(expected_plots) >= 7
    for img in seen["images"]:
        assert img["complete"] and img["width"] > 100 and img["height"] > 100, img
        assert img["shown"] > 100, img


def test_screenshot_shows_the_verdict_colour_at_the_top(tmp_path: Path) -> None:
    """The screenshot's first screen carries the verdict box colour and real content."""
    spec = standard_spec()
    spec.anomalies = []
    run_dir = write_run(tmp_path / "run", spec)
    write_reports(run_dir)
    shot = tmp_path / "shot.png"
    done = chromium(tmp_path, "--window-size=1200,900", f"--screenshot={shot}",
                    (run_dir / "report.html").as_uri())  # fmt: skip
    assert shot.is_file(), done.stderr[-2000:]
    pixels = (mpimg.imread(shot)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (900, 1200)
    top = pixels[:200].reshape(-1, 3)
    green_box = np.all(top == (227, 246, 227), axis=1).sum()  # #e3f6e3, the PASS verdict
    assert green_box > 10_000
    assert pixels.std() > 20  # not a blank page
