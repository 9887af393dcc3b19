"""Serve MathJax and mermaid from the built site itself, so the book works offline.

By default Sphinx loads MathJax, and sphinxcontrib-mermaid loads mermaid, from a CDN.
This extension points both at local copies taken from package registries at
install time, never committed:

* MathJax 3 from the PyPI package ``django-static-mathjax`` (a dev dependency; it only
  ships MathJax's files), copied into ``_static/vendor/mathjax``;
* mermaid from the npm package ``mermaid``, unpacked by ``make vendor`` into
  ``book/_vendor/mermaid`` and copied into ``_static/vendor/mermaid``.

When a copy is missing the CDN default stays (the site then needs the internet for
math or diagrams) and the build log says so; the browser test fails in that case.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

MERMAID_ENTRY = "mermaid.esm.min.mjs"
# What the site needs of MathJax's 24 MB: the combined TeX/MathML-to-HTML component, its
# fonts, the extensions it may autoload, and the menu and accessibility components.
MATHJAX_PARTS = ("tex-mml-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y")


def _mathjax_dir() -> Path | None:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        es5 = Path(location) / "static" / "mathjax" / "es5"
        if (es5 / "tex-mml-chtml.js").exists():
            return es5
    return None


def _config_inited(app, config):
    vendor = Path(app.confdir) / "_vendor"
    static_root = Path(app.outdir).parent / "_offline_static"
    extra = []
    mathjax = _mathjax_dir()
    if mathjax is not None:
        config.mathjax_path = "vendor/mathjax/tex-mml-chtml.js"
        extra.append(("mathjax", mathjax))
    else:
        logger.info("offline_assets: MathJax package not found; the site loads MathJax from its CDN")
    mermaid = vendor / "mermaid"
    if (mermaid / MERMAID_ENTRY).exists():
        config.mermaid_use_local = f"vendor/mermaid/{MERMAID_ENTRY}"
        extra.append(("mermaid", mermaid))
    else:
        logger.info("offline_assets: book/_vendor/mermaid missing (run `make vendor`); "
                    "the site loads mermaid from its CDN")
    if extra:
        # html_static_path copies a folder's *contents*: stage the copies under vendor/
        target = static_root / "vendor"
        if target.exists():
            shutil.rmtree(target)
        for name, source in extra:
            parts = MATHJAX_PARTS if name == "mathjax" else (".",)
            for part in parts:
                src, dst = source / part, target / name / part
                if src.is_dir():
                    shutil.copytree(src, dst, dirs_exist_ok=True)
                else:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
        config.html_static_path = list(config.html_static_path) + [str(static_root)]


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    # With Sphinx 7.4 an inline script added after builder-inited appears twice in a page (we
    # think once with filename None, once with ""); sphinx-thebe's `const THEBE_JS_URL` then throws
    # a SyntaxError in the browser on every page (tests/test_site.py reports it).
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (getattr(script, "filename", None) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


def setup(app):
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("html-page-context", _drop_repeated_scripts, priority=1000)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
