"""The report's figures say what they show (issue 36, item 10): the convergence figure's mark of a
run's setting leaves the measured point under it visible and its axis labels fit their panels, the
trace names each line's image, and the maps grid's image credits are readable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bench.core.plotting as plotting
import bench.report.convergence as convergence
import bench.report.figures as figures


@pytest.fixture
def drawn(monkeypatch):
    """The figures the drawing functions would save, kept open (path -> figure)."""
    kept: dict[Path, object] = {}
    for module in (plotting, convergence, figures):
        monkeypatch.setattr(module, "save_figure", lambda fig, path: kept.__setitem__(Path(path), fig))
    yield kept
    for fig in kept.values():
        plotting.plt.close(fig)


def test_the_convergence_mark_leaves_the_point_it_marks_visible_and_the_labels_fit(drawn):
    summary = convergence.load_summary()
    point = next(v for v in summary["variants"] if v.get("lr") == 0.06)["points"][0]
    convergence.convergence_figure(summary, Path("c.png"), (point["passes"], point["gap_mean"], point["r_mean"]))
    fig = drawn[Path("c.png")]
    fig.canvas.draw()
    for ax in fig.axes:
        mark = next(line for line in ax.get_lines() if line.get_label() == "this run's setting")
        assert mark.get_markerfacecolor() == "none"  # a ring: the square of lr 0.06 shows through
        assert mark.get_zorder() > max(line.get_zorder() for line in ax.get_lines() if line is not mark)
        label = ax.yaxis.label.get_window_extent()
        assert label.height <= ax.get_window_extent().height, ax.yaxis.label.get_text()


def test_the_trace_names_each_lines_image(drawn):
    rng = np.random.default_rng(0)
    traces = {f"{k:016x}": np.cumsum(rng.normal(-0.01, 0.002, 60)) + 1 for k in range(3)}
    figures.trace_figure(traces, Path("t.png"))
    (ax,) = drawn[Path("t.png")].axes
    legend = ax.get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == list(traces)
    for line, image_id in zip(ax.get_lines(), traces):
        assert line.get_label() == image_id

    many = {f"img{k:03d}": np.linspace(1, 0.5 + k / 100, 60) for k in range(40)}
    figures.trace_figure(many, Path("many.png"))
    (ax,) = drawn[Path("many.png")].axes
    named = {t.get_text() for t in ax.texts}
    assert named == {f"img{k:03d}" for k in [*range(5), *range(35, 40)]}  # the lowest and highest ends


def test_the_maps_grids_image_credits_are_readable(drawn):
    credit = "0a1b2c3d4e5f6a7b\nNASA (Eileen Collins portrait) and a long author list; CC BY-SA 2.0"
    images = np.zeros((2, 32, 32, 3), np.uint8)
    plotting.maps_grid(images, [credit, "b\nc; CC0"], {"m": np.ones((2, 32, 32))}, Path("g.png"), {"m": False})
    axes = drawn[Path("g.png")].axes
    caption = axes[0].xaxis.label
    assert caption.get_fontsize() >= 8  # 8 pt: about 12 px at the saved 110 dpi
    assert max(len(line) for line in caption.get_text().splitlines()) <= 30  # wrapped under its image
    assert caption.get_text().replace("\n", " ").split() == credit.split()
