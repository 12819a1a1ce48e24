"""Copy the JavaScript the built book needs from node_modules (and the anywidget wheel) into _extra/vendor/, offline.

Usage:
    npm ci                                # installs the versions pinned in package-lock.json into node_modules/
    python tools/vendor_assets.py         # copies the files the book loads into _extra/vendor/ and writes MANIFEST.json
    python tools/vendor_assets.py --check # fails if _extra/vendor/ differs from node_modules/ (or from MANIFEST.json)

The anywidget front end comes from the installed Python package instead (its wheel ships the same AMD bundle as
npm's anywidget/dist/index.js), so the explorers' JavaScript and Python are always one version; --check fails when
the installed anywidget differs from the vendored copy.

The copied files are committed, so a reader needs neither npm nor a network: `jupyter-book build` copies
_extra/ into the book's root (Sphinx's html_extra_path, so the built book has vendor/...), and _config.yml points
myst-nb (`nb_ipywidgets_js`) and Sphinx (`mathjax_path`) at them instead of at a CDN. Only the few files the
pages actually load are copied, not whole packages.

Why not _static/: Jupyter Book adds every .js file under the static paths to every page whenever a _static/
folder exists, which would load the widget manager and MathJax, in the wrong order, on every page.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "_extra" / "vendor"
MANIFEST = VENDOR / "MANIFEST.json"


@dataclass(frozen=True)
class Asset:
    """One npm package and the files of it the book serves."""

    package: str  # npm name, as in package.json
    target: str  # folder under _extra/vendor/
    files: tuple[tuple[str, str], ...]  # (glob inside the package, folder under target)
    license: str  # SPDX id, from the package's package.json


ASSETS = (
    # RequireJS: the ipywidgets embed manager is an AMD bundle and needs a loader.
    Asset("requirejs", "requirejs", (("require.js", ""),), "MIT"),
    # The ipywidgets 8 embed manager (base, controls and output widgets are bundled in embed-amd.js); it loads
    # its Font Awesome icons from beside itself. .svg/.eot fonts only serve browsers older than woff support.
    Asset(
        "@jupyter-widgets/html-manager",
        "html-manager",
        (("dist/embed-amd.js", ""), ("dist/*.woff2", ""), ("dist/*.woff", ""), ("dist/*.ttf", ""),
         ("dist/embed.js.LICENSE.txt", "")),
        "BSD-3-Clause",
    ),
    # MathJax 3: the "full" TeX component bundles every TeX extension, so no extension is fetched on demand;
    # the CommonHTML output loads its fonts from output/chtml/fonts/woff-v2 beside the script.
    Asset(
        "mathjax",
        "mathjax",
        (("es5/tex-chtml-full.js", ""), ("es5/output/chtml/fonts/woff-v2/*.woff", "output/chtml/fonts/woff-v2"),
         ("LICENSE", "")),
        "Apache-2.0",
    ),
)


# Python packages whose wheel carries the JavaScript the page needs: (package, folder under _extra/vendor/,
# files inside the installed package, SPDX license). RequireJS maps the module id "anywidget" to anywidget/index.
WHEEL_ASSETS = (Asset("anywidget", "anywidget", (("nbextension/index.js", ""),), "MIT"),)


def locked_versions() -> dict[str, str]:
    """The version package-lock.json pins for each vendored npm package."""
    lock = json.loads((ROOT / "package-lock.json").read_text())
    return {a.package: lock["packages"][f"node_modules/{a.package}"]["version"] for a in ASSETS}


def vendored_versions() -> dict[str, str]:
    """The version each vendored file must come from: the npm pins, and the installed version of each wheel."""
    return locked_versions() | {a.package: importlib.metadata.version(a.package) for a in WHEEL_ASSETS}


def _wheel_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"the Python package {package} is not installed: pip install -r requirements.txt")
    return Path(next(iter(spec.submodule_search_locations)))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def planned_copies() -> list[tuple[Path, Path]]:
    """(source in node_modules, destination in _extra/vendor) for every vendored file."""
    copies = []
    for asset in ASSETS:
        package_dir = NODE_MODULES / asset.package
        if not package_dir.is_dir():
            sys.exit(f"{package_dir} is missing: run `npm ci` first (node and npm from your system packages).")
        installed = json.loads((package_dir / "package.json").read_text())["version"]
        if installed != locked_versions()[asset.package]:
            sys.exit(f"node_modules has {asset.package} {installed}, package-lock.json pins another version: run `npm ci`.")
        for pattern, subdir in asset.files:
            matches = sorted(package_dir.glob(pattern))
            if not matches:
                sys.exit(f"{asset.package} has no file matching {pattern}")
            copies += [(src, VENDOR / asset.target / subdir / src.name) for src in matches]
    for asset in WHEEL_ASSETS:
        for pattern, subdir in asset.files:
            src = _wheel_dir(asset.package) / pattern
            if not src.is_file():
                sys.exit(f"the installed {asset.package} has no {pattern}")
            copies.append((src, VENDOR / asset.target / subdir / src.name))
    return copies


def manifest_for(copies: list[tuple[Path, Path]]) -> dict:
    versions = vendored_versions()
    return {
        "about": "Written by tools/vendor_assets.py from node_modules (npm ci) and installed wheels. Do not edit by hand.",
        "packages": {a.package: {"version": versions[a.package], "license": a.license, "folder": a.target}
                     for a in (*ASSETS, *WHEEL_ASSETS)},
        "files": {dst.relative_to(VENDOR).as_posix(): sha256(src) for src, dst in copies},
    }


def check_against_manifest() -> list[str]:
    """Problems with _extra/vendor/ judged by MANIFEST.json alone (no node_modules needed)."""
    if not MANIFEST.exists():
        return [f"{MANIFEST.relative_to(ROOT)} is missing: run tools/vendor_assets.py"]
    manifest = json.loads(MANIFEST.read_text())
    problems = []
    versions = vendored_versions()
    for package, info in manifest["packages"].items():
        if versions.get(package) != info["version"]:
            source = "pip installed" if package in {a.package for a in WHEEL_ASSETS} else "package-lock.json pins"
            problems.append(f"{package}: vendored {info['version']}, {source} {versions.get(package)}")
    for rel, digest in manifest["files"].items():
        path = VENDOR / rel
        if not path.exists():
            problems.append(f"missing vendored file {rel}")
        elif sha256(path) != digest:
            problems.append(f"vendored file {rel} differs from the copy recorded in MANIFEST.json")
    listed = set(manifest["files"]) | {"MANIFEST.json"}
    extra = [p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()]
    problems += [f"unlisted file in _extra/vendor: {rel}" for rel in extra if rel not in listed]
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of copying")
    args = parser.parse_args(argv)
    copies = planned_copies()
    expected = manifest_for(copies)
    if args.check:
        problems = check_against_manifest()
        if MANIFEST.exists() and json.loads(MANIFEST.read_text()) != expected:
            problems.append("MANIFEST.json does not match node_modules: run tools/vendor_assets.py")
        for problem in problems:
            print(problem, file=sys.stderr)
        print("vendored assets: " + ("out of date" if problems else "up to date"))
        return 1 if problems else 0
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    for src, dst in copies:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    MANIFEST.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    size = sum(dst.stat().st_size for _, dst in copies)
    print(f"copied {len(copies)} files ({size / 1e6:.1f} MB) into {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
