"""The ``site`` command: a static results site from stored result folders (:mod:`bench.site`)."""

from __future__ import annotations

import importlib.util

from common.errors import InputError

INSTALL_HINT = "pip install 'noise-mask-bench[site]' (in a checkout of the repository: pip install -e '.[site]')"


def register(sub) -> None:
    p = sub.add_parser(
        "site",
        help="a static results site (leaderboard, image explorer, checks, history) from stored result folders",
        description="Build a static site from run, reference (a folder, or a shipped name such as nips17-ci), check, "
        "sanity, discovery, export and meta folders, in any mix: a sortable leaderboard, an image explorer with every "
        "method's maps, curves and scores, a page per check, the history of each method's checks and exports, the "
        "thesis's tables and the studies. It reads the stored results only; the site opens from file:// with no "
        "network and can be published as it is (e.g. on GitHub Pages).",
    )
    p.add_argument("folders", nargs="+", metavar="DIR", help="result folders (or shipped reference names)")
    p.add_argument("--out", required=True, help="the site's folder (a site there is replaced)")
    p.set_defaults(func=_site)


def _needs_plotly() -> None:
    """The site's charts are Plotly's: without the extra, say how to install it (exit 2), not a traceback."""
    if importlib.util.find_spec("plotly") is None:
        raise InputError(f"bench site needs the `site` extra (Plotly), which is not installed: {INSTALL_HINT}")


def _site(args) -> int:
    _needs_plotly()
    from bench.site import build_site  # noqa: PLC0415 - heavy: pandas, plotly, matplotlib

    built = build_site(args.folders, args.out)
    print(
        f"site: {built.pages} pages, {built.files} files, {built.bytes / 2**20:.1f} MiB in {built.seconds:.1f} s; "
        f"open {(built.path / 'index.html').resolve().as_uri()}"
    )
    return 0
