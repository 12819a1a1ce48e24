"""Sphinx glue for the HTML book, loaded through `sphinx: local_extensions` in _config.yml.

Two fixes, applied to each page's list of scripts as it is written:

- Sphinx 7.4 (the last version Jupyter Book 1 allows) registers an inline script added with
  `app.add_js_file(None, body=...)` after the builder starts twice (once as None, once as ""), so every page
  carried sphinx-thebe's `const THEBE_JS_URL = ...` twice and the browser reported a SyntaxError. Duplicates
  are dropped here.
- On pages with saved widgets (myst-nb adds the ipywidgets embed manager there, see `nb_ipywidgets_js`):
  RequireJS and the manager's `__jupyter_widgets_assets_path__` hook are told where the manager's files live
  (and where the vendored anywidget front end is, module id `anywidget`, which the explorers need),
  because it loads its icon fonts from beside its own module path, which otherwise can resolve next to the
  page; and the MathJax 2 call that ipywidgets 8
  makes to typeset widget labels (`MathJax.Hub.Queue`) is forwarded to the MathJax 3 the book loads.

tests/test_browser.py checks the result in a real browser (no console errors, no failed requests).
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

EMBED_MANAGER = "html-manager/embed-amd.js"

# A global `require` object defined before require.js loads is RequireJS's configuration.
WIDGET_PAGE_JS = """\
// Each bundled @jupyter-widgets module finds its icon fonts beside the URL RequireJS gives its module id;
// without these paths the ids resolve next to the page (404s for the fonts).
// "anywidget" is the explorers' front end, vendored from the anywidget wheel (tools/vendor_assets.py): without
// this path the manager would fetch it from a CDN.
var require = {paths: {"@jupyter-widgets": "%(manager_dir)s", "@jupyter-widgets/html-manager/dist": "%(manager_dir)s",
                       "anywidget": "%(vendor_dir)s/anywidget/index"}};
window.__jupyter_widgets_assets_path__ = "%(manager_dir)s/";
document.addEventListener("DOMContentLoaded", function () {
  var mj = window.MathJax;
  if (mj && !mj.Hub) {
    mj.Hub = {Queue: function () {
      Array.prototype.forEach.call(arguments, function (job) {
        if (Array.isArray(job) && job[0] === "Typeset" && mj.startup && mj.startup.promise) {
          mj.startup.promise = mj.startup.promise.then(function () { return mj.typesetPromise([job[2]]); });
        }
      });
    }};
  }
});"""


def _key(script: Any) -> tuple:
    return (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))


def fix_page_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if scripts is None:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        if _key(script) not in seen:
            seen.add(_key(script))
            unique.append(script)
    # In place: the list is the builder's own, which Sphinx restores after each page.
    scripts[:] = unique
    manager = next((s for s in scripts if (s.filename or "").split("?")[0].endswith(EMBED_MANAGER)), None)
    if manager is not None:
        # Relative to the page, as RequireJS resolves paths against the page's folder.
        manager_dir = context["pathto"](manager.filename, 1).rsplit("/", 1)[0]
        # Priority just below the default 500 of myst-nb's require.js, so it runs before RequireJS reads it.
        vendor_dir = manager_dir.rsplit("/", 1)[0]
        app.builder.add_js_file(None, body=WIDGET_PAGE_JS % {"manager_dir": manager_dir, "vendor_dir": vendor_dir}, priority=499)


def setup(app: Sphinx) -> dict[str, Any]:
    # After myst-nb (default priority 500) has added the page's widget scripts.
    app.connect("html-page-context", fix_page_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
