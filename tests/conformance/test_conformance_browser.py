"""The conformance page as a person sees it (headless Chromium): failures at the top, each
linking to its detail, ids on one line even in a narrow window, requirement Markdown as code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np

from harness.conformance._model import ConformanceResult, Outcome, TestRecord
from harness.conformance.failures import FailureRecord
from harness.conformance.report import write_reports
from harness.spec import REQUIREMENTS, Profile
from tests.browser import browser_marks, chromium

pytestmark = browser_marks

PROBE = """<script>
window.addEventListener('load', () => {
  const top = el => el.getBoundingClientRect().top + window.scrollY;
  const ids = [...document.querySelectorAll('td.rid')];
  const lines = td => {  // how many lines the id's text takes (the cell is as tall as its row)
    const range = document.createRange();
    range.selectNodeContents(td);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
  };
  const link = document.querySelector('tr#MUT-1 a[href="#detail-MUT-1"]');
  const probe = document.createElement('pre');
  probe.id = 'probe';
  probe.textContent = JSON.stringify({
    failuresTop: top(document.getElementById('failures')),
    firstSectionTop: top(document.querySelector('tr#TRN-1')),
    wrapped: ids.filter(td => lines(td) > 1).map(td => td.innerText),
    nowrap: ids.every(td => getComputedStyle(td).whiteSpace === 'nowrap'),
    linkTarget: link ? !!document.getElementById(link.getAttribute('href').slice(1)) : false,
    codes: document.querySelectorAll('tr#INF-1 code').length,
    backticks: [...document.querySelectorAll('tr td.text')]
                 .filter(td => td.innerText.includes('`')).length,
    frames: document.querySelectorAll('#detail-MUT-1 table.frames tr').length,
    rerun: (document.querySelector('#detail-MUT-1 pre.rerun') || {}).innerText || '',
  });
  document.body.appendChild(probe);
});
</script>"""


def _result() -> ConformanceResult:
    frames = tuple({"at": f"12:00:00.{n:03d}", "direction": "sent" if n % 2 else "received",
                    "channel": "socket u-1", "text": f'2{n}["mutate",{{"op":"delete"}}]'}
                   for n in range(6))  # fmt: skip
    failure = FailureRecord("mutate delete ack", "carries no data", requirement="MUT-1",
                            expected={"data": {"id": "r-1"}}, observed={"data": None},
                            frames=frames)  # fmt: skip
    ids = [r.id for r in REQUIREMENTS.values() if r.profile is Profile.CORE]
    records = [TestRecord("test_x", rid, Outcome.PASSED, "", 0.1) for rid in ids if rid != "MUT-1"]
    records.append(TestRecord("test_mutate_mirrors_rest", "MUT-1", Outcome.FAILED,
                              "mutate delete ack: carries no data", 0.9, failure))  # fmt: skip
    return ConformanceResult.build({"server": "demo/1"}, ids, records, urls=["http://x"],
                                   rerun="crm-harness conform --url http://x")  # fmt: skip


def test_rendered_page_leads_with_failures_and_keeps_ids_whole(tmp_path: Path) -> None:
    write_reports(_result(), report_dir=tmp_path)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    # A narrow window: where ids used to wrap ("TRN-/1").
    dumped = chromium(tmp_path, "--window-size=700,900", "--dump-dom", probed.as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', dumped.stdout, re.S)
    assert match, dumped.stderr[-2000:]
    seen = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert seen["failuresTop"] < seen["firstSectionTop"]
    assert seen["nowrap"] and seen["wrapped"] == []
    assert seen["linkTarget"] and seen["frames"] == 7  # a header row and six frames
    assert seen["rerun"] == "crm-harness conform --url http://x --req MUT-1"
    assert seen["codes"] >= 2 and seen["backticks"] == 0


def test_first_screen_shows_the_red_must_banner(tmp_path: Path) -> None:
    write_reports(_result(), report_dir=tmp_path)
    shot = tmp_path / "shot.png"
    done = chromium(tmp_path, "--window-size=1200,900", f"--screenshot={shot}",
                    (tmp_path / "report.html").as_uri())  # fmt: skip
    assert shot.is_file(), done.stderr[-2000:]
    pixels = (mpimg.imread(shot)[:, :, :3] * 255).round().astype(int)
    red_banner = np.all(pixels[:300].reshape(-1, 3) == (249, 214, 213), axis=1).sum()  # #f9d6d5
    assert red_banner > 10_000
