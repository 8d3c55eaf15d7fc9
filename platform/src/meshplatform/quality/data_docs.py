"""Make the Great Expectations Data Docs work offline: copy the vendored CSS/JS (package data,
see ``data_docs_assets/README.md``) into the site and point every page at it instead of a CDN."""

from __future__ import annotations

import re
import shutil
from importlib.resources import files
from pathlib import Path

ASSETS = "data_docs_assets"
LOCAL_DIR = "static/offline"
# CDN address (any version-pinned URL GX writes) -> vendored file
_REWRITES = {
    r"https://code\.jquery\.com/jquery-3\.7\.1\.min\.js": "jquery.min.js",
    r"https://[^\"']*/bootstrap/4\.3\.1/css/bootstrap\.min\.css": "bootstrap.min.css",
    r"https://[^\"']*/bootstrap/4\.3\.1/js/bootstrap\.min\.js": "bootstrap.min.js",
    r"https://unpkg\.com/bootstrap-table@1\.19\.[01]/dist/bootstrap-table\.min\.(css|js)": r"bootstrap-table.min.\1",
    r"https://unpkg\.com/bootstrap-table@1\.19\.[01]/dist/extensions/filter-control/"
    r"bootstrap-table-filter-control\.min\.(css|js)": r"bootstrap-table-filter-control.min.\1",
    r"https://[^\"']*/popper\.js/1\.12\.9/umd/popper\.min\.js": "popper.min.js",
    r"https://[^\"']*/bootstrap-datepicker/1\.9\.0/(css|js)/bootstrap-datepicker\.min\.(css|js)": r"bootstrap-datepicker.min.\2",
    r"https://cdn\.jsdelivr\.net/npm/@forevolve/bootstrap-dark@1\.1\.0/dist/css/bootstrap-prefers-dark\.css": "bootstrap-prefers-dark.css",
    r"https://[^\"']*/font-awesome/6\.6\.0/css/all\.min\.css": "fontawesome/css/all.min.css",
}
_PATTERNS = [(re.compile(cdn), local) for cdn, local in _REWRITES.items()]


def _copy_assets(site: Path) -> Path:
    target = site / LOCAL_DIR
    source = files("meshplatform.quality") / ASSETS
    shutil.copytree(str(source), target, dirs_exist_ok=True)
    return target


def make_offline(site: Path) -> int:
    """Vendor the assets into ``site`` and rewrite the pages; return how many pages changed."""
    if not site.is_dir():
        return 0
    _copy_assets(site)
    changed = 0
    for page in site.rglob("*.html"):
        depth = len(page.relative_to(site).parts) - 1
        prefix = "../" * depth + LOCAL_DIR + "/"
        text = page.read_text(encoding="utf-8")
        new = text
        for pattern, local in _PATTERNS:
            new = pattern.sub(lambda m, local=local, prefix=prefix: prefix + m.expand(local), new)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed
