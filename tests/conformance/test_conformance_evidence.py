"""Issue 15: what a conformance failure shows. Tokens never reach a transcript; the page
leads with the failures, each row links to its detail (frames, expected/observed, rerun
command); requirement texts are Markdown; ids never wrap."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.cli.conform import rerun_base
from harness.client import Transcript, elide_tokens
from harness.conformance._model import ConformanceResult, Outcome, TestRecord
from harness.conformance.failures import FailureRecord
from harness.conformance.report import HtmlReport
from harness.spec import REQUIREMENTS

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1LTEifQ.c2lnbmF0dXJl"


def test_tokens_are_elided() -> None:
    """JWTs, Authorization values and a client's own (opaque) token never show."""
    text = f'0{{"token":"{JWT}"}} Authorization: Bearer abc\n["opaque-123"]'
    clean = elide_tokens(text, ["opaque-123"])
    assert JWT not in clean and "abc" not in clean and "opaque-123" not in clean
    assert clean.count("<elided>") == 3


def test_transcript_keeps_the_last_frames_without_tokens() -> None:
    transcript = Transcript(limit=3)
    transcript.add_secret("opaque-123")
    transcript.http_request("GET", "/x", {"Authorization": "Bearer opaque-123", "If-Match": '"2"'},
                            b"")  # fmt: skip
    for n in range(4):
        transcript.record("received", "socket u-1", f'2["e",{{"n":{n}}}]')
    frames = transcript.to_json()
    assert [f["text"] for f in frames] == [f'2["e",{{"n":{n}}}]' for n in (1, 2, 3)]
    assert transcript.dropped == 2
    first = Transcript()
    first.http_request("GET", "/x", {"Authorization": "Bearer opaque-123", "If-Match": "2"}, b"")
    assert first.to_json()[0]["text"] == 'GET /x {"Authorization": "<elided>", "If-Match": "2"}'


def _result() -> ConformanceResult:
    frames = ({"at": "12:00:00.000", "direction": "sent", "channel": "socket u-1",
               "text": '0{"token":"<elided>"}'},)  # fmt: skip
    failure = FailureRecord("mutate delete ack", "carries no data", requirement="MUT-1",
                            expected={"data": "record"}, observed={"data": None},
                            frames=frames)  # fmt: skip
    records = [
        TestRecord("test_mutate_mirrors_rest", "MUT-1", Outcome.FAILED, "ack", 0.9, failure),
        TestRecord("test_info", "INF-1", Outcome.PASSED, "", 0.1),
        TestRecord("test_transport", "TRN-1", Outcome.PASSED, "", 0.1),
    ]
    ids = ["TRN-1", "INF-1", "MUT-1"]
    rerun = "crm-harness conform --url http://x"
    return ConformanceResult.build({"server": "demo/1"}, ids, records, urls=["http://x"],
                                   rerun=rerun)  # fmt: skip


def test_page_leads_with_failures_linked_to_their_detail() -> None:
    page = HtmlReport().render(_result())
    assert page.index('id="failures"') < page.index('<tr id="TRN-1">')
    assert page.count('href="#detail-MUT-1"') >= 2  # the failures table and the MUT-1 row
    detail = page[page.index('id="detail-MUT-1"') :]
    assert "0{&#34;token&#34;:&#34;&lt;elided&gt;&#34;}" in detail  # the frame, escaped
    assert "crm-harness conform --url http://x --req MUT-1" in detail
    assert "carries no data" in detail and "expected" in detail and "observed" in detail


def test_requirement_text_is_markdown_and_ids_do_not_wrap() -> None:
    """Backticks are code; INF-1 shows its whole info document; `.rid` cells never wrap."""
    page = HtmlReport().render(_result())
    assert "<code>GET /api/v1/realtime/info</code>" in page and "`GET" not in page
    assert "&#34;auth&#34;: {&#34;algorithms&#34;: [&#34;HS256&#34;]}" in page
    assert ".rid { white-space: nowrap;" in page and '<td class="rid">TRN-1</td>' in page
    assert REQUIREMENTS["INF-1"].text.endswith("```")


def _args(**given: object) -> argparse.Namespace:
    from harness.cli import build_parser

    args = build_parser().parse_args(["conform"])
    for key, value in given.items():
        setattr(args, key, value)
    return args


def test_rerun_command_keeps_the_options_but_no_secret() -> None:
    args = _args(url=["http://a", "http://b"], req=["EVT-1"], report="r", jwt_secret="s3cr3t",
                 header=["X-Api-Key: k1", "X-Trace: on"], quiet_period=0.3)  # fmt: skip
    command = rerun_base(args, fuzz_seed=7)
    assert command == (
        "crm-harness conform --url http://a --url http://b --quiet-period 0.3 --fuzz-seed 7 "
        "--jwt-secret \"$JWT_SECRET\" --header 'X-Api-Key: <elided>' --header 'X-Trace: on'"
    )


@pytest.mark.parametrize("argv", [["--req", "EVT-1", "--req", "NOPE-1"], ["--req", "X"]])
def test_repeated_req_with_a_bad_id_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], tmp_path: Path
) -> None:
    from harness.cli import main

    assert main(["conform", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown requirement id" in err[0], err


async def test_raw_http_client_traffic_is_recorded() -> None:
    """`Crm.http()` clients feed the transcript through httpx event hooks (TRN-1's check)."""
    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text='0{"sid":"s"}')

    transcript = Transcript()
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer),
                                 event_hooks=transcript.httpx_hooks()) as http:  # fmt: skip
        await http.get("http://x/socket.io/", params={"EIO": "4"},
                       headers={"Authorization": f"Bearer {JWT}"})  # fmt: skip
    sent, received = transcript.to_json()
    assert sent["text"].startswith("GET http://x/socket.io/?EIO=4") and JWT not in sent["text"]
    assert received["text"] == '200 ← GET http://x/socket.io/?EIO=4\n0{"sid":"s"}'


def test_markdown_summary_leads_with_failures_and_their_rerun() -> None:
    """summary.md (for a CI job summary): the MUST failures, expected/observed, rerun command."""
    from harness.conformance.report import MarkdownReport

    text = MarkdownReport().render(_result())
    lines = text.splitlines()
    assert lines[0] == "## ❌ Conformance: 1 MUST failed (demo/1)"
    assert "| MUT-1 | MUST | fail | ack |" in lines
    assert '- observed: `{"data": null}`' in lines
    assert "- 1 frames sent and received: report.html" in lines
    rerun = "```sh\ncrm-harness conform --url http://x --req MUT-1\n```"
    assert text.index("### MUT-1") < text.index(rerun)
