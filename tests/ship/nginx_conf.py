"""A small reader of nginx configuration: enough to check what deploy/nginx/nginx.conf says.

nginx's own `nginx -t` checks syntax where nginx is installed (tests/ship/test_nginx_proxy.py);
this reader lets the compose tests check meaning (upgrade headers, sticky balancing) anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Directive", "parse_nginx"]

_TOKEN = re.compile(r"""#[^\n]*|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|[{};]|[^\s{};"'#]+""")


@dataclass(slots=True)
class Directive:
    name: str
    args: list[str]
    block: list[Directive] = field(default_factory=list)

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block if d.name == name]

    def one(self, name: str, *args: str) -> Directive:
        found = [d for d in self.all(name) if d.args[: len(args)] == list(args)]
        assert len(found) == 1, f"expected one `{name} {' '.join(args)}` in `{self.name}`"
        return found[0]

    def walk(self) -> Iterator[Directive]:
        for child in self.block:
            yield child
            yield from child.walk()


def _unquote(token: str) -> str:
    return token[1:-1] if token[:1] in "\"'" and token[-1:] == token[:1] else token


def parse_nginx(text: str) -> Directive:
    """The whole file as the block of a root directive named `main`."""
    root = Directive("main", [])
    stack = [root]
    words: list[str] = []
    for token in _TOKEN.findall(text):
        if token.startswith("#"):
            continue
        if token == ";":
            stack[-1].block.append(Directive(words[0], words[1:]))
            words = []
        elif token == "{":
            directive = Directive(words[0], words[1:])
            stack[-1].block.append(directive)
            stack.append(directive)
            words = []
        elif token == "}":
            if words:
                # Inside `map { ... }` entries are `key value;`; a bare `}` closes the block.
                raise ValueError(f"unterminated directive before '}}': {words}")
            stack.pop()
        else:
            words.append(_unquote(token))
    if len(stack) != 1 or words:
        raise ValueError("unbalanced braces or a directive without ';'")
    return root
