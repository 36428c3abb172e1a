"""The little Markdown the spec's requirement texts use, as HTML: `code`, **strong**, and
fenced blocks (INF-1's info document). Everything else is escaped text."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

__all__ = ["markdown_html"]

_FENCE = re.compile(r"```[a-z]*\n(.*?)\n?```", re.S)
_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*([^*]+)\*\*")


def _inline(text: str) -> str:
    html = str(escape(text))
    html = _CODE.sub(r"<code>\1</code>", html)
    return _STRONG.sub(r"<strong>\1</strong>", html)


def markdown_html(text: str) -> Markup:
    """`text` rendered; safe to put in a page as is (every piece of it was escaped first)."""
    parts: list[str] = []
    at = 0
    for block in _FENCE.finditer(text):
        parts.append(_inline(text[at : block.start()].strip()))
        parts.append(f"<pre><code>{escape(block.group(1))}</code></pre>")
        at = block.end()
    parts.append(_inline(text[at:].strip()))
    return Markup("".join(p for p in parts if p))
