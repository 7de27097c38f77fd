"""``metrics.fid.enabled=auto`` (the default) scores FID/KID exactly when the weights are found."""

from __future__ import annotations

import pytest

from piebench.scoring.evaluate import fid_wanted


def test_auto_follows_the_weights_file(tmp_path, monkeypatch):
    monkeypatch.setattr("piebench.metrics.fid.torch_hub_checkpoint", lambda name: tmp_path / name)
    weights = tmp_path / "fid.pth"
    assert not fid_wanted({"enabled": "auto", "inception_weights": str(weights)})
    assert not fid_wanted({"enabled": "auto", "inception_weights": None})
    weights.write_bytes(b"x")
    assert fid_wanted({"enabled": "auto", "inception_weights": str(weights)})
    (tmp_path / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    assert fid_wanted({"enabled": "auto", "inception_weights": None})


@pytest.mark.parametrize(("value", "wanted"), [(True, True), (False, False)])
def test_explicit_values_win(value, wanted, tmp_path):
    assert fid_wanted({"enabled": value, "inception_weights": str(tmp_path / "none")}) is wanted
