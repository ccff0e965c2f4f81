"""``python -m bench site DIR [DIR ...] --out SITE``: a static results site from stored run,
reference, check, sanity, discovery, export and meta folders. It reads what the commands wrote and
recomputes nothing; it opens from ``file://`` with no network (every script and style is a file of
SITE; Plotly's JavaScript once, in ``assets/plotly.min.js``) and publishes as it is on GitHub Pages.

Layout of SITE::

    index.html                  the leaderboard (:mod:`.leaderboard`)
    explorer.html, explore-<board>-<image>.html   the image explorer (:mod:`.explorer`)
    checks.html, check-<name>.html                a page per check (:mod:`.checks`)
    history.html                each method's metrics over its checks and exports (:mod:`.history`)
    thesis.html                 the thesis's Tables 1-3 and claims beside each board's, also under ROAD (:mod:`.thesis`)
    studies.html                randomisation tests and model discovery (:mod:`.studies`)
    img/<board>/<image>/        the image (JPEG) and each stored map in each rendering (:mod:`.images`)
    assets/                     site.css, site.js (sorting, the leaderboard's groups of metrics, the explorer's controls), plotly.min.js
    site.json                   when it was built and from which folders

The folders are read by :mod:`.collect`, the charts drawn by :mod:`.charts`, the pages written by
:mod:`.build`.
"""

from bench.site.build import Built, build_site

__all__ = ["Built", "build_site"]
