"""The docs site (mkdocs.yml, docs/): it builds with --strict — every link and anchor resolves,
every include (the spec, CONTRIBUTING.md) is found, no page is left out of the nav — and the
nav names only pages that exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from deploy_commands import ROOT

DOCS = ROOT / "docs"


class _ConfigLoader(yaml.SafeLoader):
    """mkdocs.yml names Python objects (`!!python/name:`); their names are enough here."""


_ConfigLoader.add_multi_constructor(
    "tag:yaml.org,2002:python/name:", lambda loader, suffix, node: suffix
)


def _nav_pages(nav: Any) -> Iterator[str]:
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from _nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from _nav_pages(value)


def test_nav_pages_exist() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_ConfigLoader)
    pages = list(_nav_pages(config["nav"]))
    assert {"index.md", "spec.md", "benchmarks.md", "contributing.md"} <= set(pages)
    missing = [page for page in pages if not (DOCS / page).is_file()]
    assert missing == []


def test_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict`, as `make docs` runs it, into a throwaway directory."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    spec_page = (tmp_path / "site" / "spec-text" / "index.html").read_text()
    assert "CRM Realtime Event Spec" in spec_page and "--8&lt;--" not in spec_page
    contributing = (tmp_path / "site" / "contributing" / "index.html").read_text()
    assert "Layout: folders show the architecture" in contributing
