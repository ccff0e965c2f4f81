"""Method registry (built-ins and entry-point plug-ins) and the ``explain`` command."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

import methods
from bench.cli import main
from models import get_model

PLUGIN = '''
import numpy as np
from methods import Attribution, Param, SaliencyMethod

class CentreBias(SaliencyMethod):
    """A third-party method: relevance falls off with the distance to the centre."""
    name = "centre_bias"
    signed = True
    parameters = {"power": Param(1.0, float, "exponent of the distance", positive=True)}

    def attribute(self, model, images, targets):
        n, h, w, _ = images.shape
        yy, xx = np.mgrid[:h, :w]
        rel = -np.hypot(yy - h / 2, xx - w / 2) ** self.params["power"]
        rel = np.broadcast_to(rel, (n, h, w)).astype(np.float32)
        return Attribution(rel, rel)

NotAMethod = object
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A real installed distribution (a .dist-info folder on sys.path) declaring entry points."""
    (tmp_path / "my_saliency.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "my_saliency-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-saliency\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{methods.ENTRY_POINT_GROUP}]\ncentre_bias = my_saliency:CentreBias\nbroken = my_saliency:NotAMethod\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("my_saliency", None)


def test_builtins_are_registered():
    assert set(methods.available()) >= {"deeplift", "intgrad", "elrp", "sensitivity", "occlusion", "noise_mask"}
    assert methods.get_method("perturbation") is methods.get_method("occlusion")  # the thesis's name
    with pytest.raises(KeyError, match=r"unknown method 'nope'.*available: "):
        methods.get_method("nope")


def test_entry_point_plugin_runs_without_forking(installed_plugin):
    assert "centre_bias" in methods.available()
    model = get_model("tiny")
    images = np.zeros((2, 32, 32, 3), np.uint8)
    result = methods.explain("centre_bias", model, images, power=2.0)
    assert result.relevance.shape == (2, 32, 32) and result.params == {"power": 2.0}
    assert np.unravel_index(result.relevance[0].argmax(), (32, 32)) == (16, 16)
    with pytest.raises(TypeError, match="SaliencyMethod subclass"):
        methods.get_method("broken")


def test_explain_command_writes_maps_attributions_params_and_grids(tmp_path, capsys):
    out = tmp_path / "explain"
    code = main(
        [
            "explain",
            "--model",
            "tiny",
            "--methods",
            "sensitivity,perturbation",
            "--limit",
            "2",
            "--param",
            "perturbation.patch_size=8",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    params = json.loads((out / "params.json").read_text())
    assert params["methods"]["perturbation"]["params"]["patch_size"] == 8
    ids = params["image_ids"]
    assert len(ids) == 2
    for method in ("sensitivity", "perturbation"):
        rel = np.load(out / "maps" / method / f"{ids[0]}.npy")
        assert rel.shape == (32, 32) and rel.dtype == np.float32
        assert (out / "attributions" / method / f"{ids[0]}.npy").is_file()
    assert np.load(out / "attributions" / "sensitivity" / f"{ids[0]}.npy").shape == (32, 32, 3)
    assert (out / "grids" / f"{ids[1]}.png").stat().st_size > 2000


def test_explain_command_names_bad_method_and_param(tmp_path, capsys):
    assert main(["explain", "--model", "tiny", "--methods", "nope", "--limit", "1", "--out", str(tmp_path / "x")]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert (
        main(
            [
                "explain",
                "--model",
                "tiny",
                "--methods",
                "sensitivity",
                "--param",
                "sensitivity.bogus=1",
                "--out",
                str(tmp_path / "y"),
            ]
        )
        == 2
    )
    assert "bogus" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_a_method_returning_the_wrong_shape_is_named():
    class Broken(methods.SaliencyMethod):
        name = "broken_shape"

        def attribute(self, model, images, targets):
            return methods.Attribution(images, np.zeros((len(images), 3, 3)))

    with pytest.raises(ValueError, match="'broken_shape' returned relevance of shape"):
        Broken().explain(get_model("tiny"), np.zeros((1, 32, 32, 3), np.uint8))
