"""The shared helpers: atomic writes (rexmol.io), centring (rexmol.geometry), the Ramachandran plot."""

import json

import numpy as np
import pytest
import torch

from rexmol.geometry import centre
from rexmol.io import atomic_path, atomic_savez, atomic_write_json, atomic_write_text


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "results.json"  # the folder is created
    atomic_write_json(target, {"a": np.float32(1.5), "b": [1, 2]})
    assert json.loads(target.read_text()) == {"a": 1.5, "b": [1, 2]}
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    atomic_savez(tmp_path / "arrays.npz", x=np.arange(3))
    assert np.load(tmp_path / "arrays.npz")["x"].tolist() == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["arrays.npz", "results.json"]


def test_a_failed_write_leaves_the_old_file_intact(tmp_path):
    target = tmp_path / "results.json"
    atomic_write_json(target, {"old": True})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"new": object()})  # not serialisable
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("disk full")
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no partial temporary left behind


def test_temporary_keeps_the_extension_writers_infer_the_format_from(tmp_path):
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp.name != "plot.png"
        tmp.write_bytes(b"x")
    assert (tmp_path / "plot.png").read_bytes() == b"x"


def test_centre_works_on_numpy_and_torch_alike():
    x = np.random.default_rng(0).normal(size=(4, 5, 3)) + [1.0, -2.0, 3.0]
    c = centre(x)
    assert isinstance(c, np.ndarray) and c.dtype == x.dtype
    np.testing.assert_allclose(c.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(c + x.mean(axis=1, keepdims=True), x)  # a translation, nothing else
    t = centre(torch.from_numpy(x).float())
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), c, atol=1e-5)
    np.testing.assert_allclose(centre(x[0]), c[0])  # a single conformation


def test_ramachandran_draws_few_samples_as_points_over_the_md_density(tmp_path):
    from rexmol.metrics.plots import ramachandran

    rng = np.random.default_rng(0)
    names = ["psi1", "phi2", "psi2", "phi3", "psi3"]
    md = rng.normal(scale=0.5, size=(2000, 5)) + [0.0, -1.2, 2.4, -1.2, -0.6]
    samples = md[:30]
    w = rng.random(30)
    p = ramachandran({"MD": (md, None), "raw": (samples, None), "reweighted": (samples, w),
                      "empty": (np.zeros((0, 5)), np.zeros(0))}, names, tmp_path / "rama.png")
    assert p.stat().st_size > 10_000 and [f.name for f in tmp_path.iterdir()] == ["rama.png"]
