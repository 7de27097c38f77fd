"""FID/KID set scores in the per-method and per-edit-type tables: the standard network's values
are appended as columns, values of another feature network are left out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from piebench.__main__ import main
from piebench.metrics.fid import NETWORK
from piebench.metrics.networks import MetricNetworks
from piebench.scoring.evaluate import SET_SCORES_FILE, evaluate_run, load_set_scores
from piebench.scoring.tables import RUN_ROWS, aggregate, display, stack_runs, with_set_scores
from tests.scoring.conftest import listing, read_only
from tests.scoring.test_cli import csv_parts, networkless


def sets_frame(network: str = NETWORK) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": ["direct"] * 3,
            "method": ["direct"] * 3,
            "group": ["all", "edit_type=0", "edit_type=9"],
            "n": [90, 10, 80],
            "fid": [12.0, np.nan, 34.0],
            "kid_mean": [0.01, np.nan, 0.02],
            "kid_std": [0.001, np.nan, 0.002],
            "fid_network": [network] * 3,
            "fid_resize": ["tf_bilinear"] * 3,
        }
    )


def scores() -> pd.DataFrame:
    one_run = pd.DataFrame(
        {
            "method": ["direct"] * 3,
            "edit_type": [0, 9, 9],
            "status": ["ok"] * 3,
            "psnr_unedit_part": [20.0, 22.0, 24.0],
        }
    )
    return stack_runs([one_run], ["direct"])


def run_sets() -> pd.DataFrame:
    return stack_runs([sets_frame()], ["direct"])


def test_per_edit_type_table_gets_the_style_edit_fid():
    table = with_set_scores(aggregate(scores(), by=[*RUN_ROWS, "edit_type"]), run_sets())
    row = table.set_index("edit_type").loc[9]
    assert (row["fid"], row["kid_mean"], row["kid_std"]) == (34.0, 0.02, 0.002)
    assert np.isnan(table.set_index("edit_type").loc[0, "fid"])
    assert list(table.columns[:6]) == [
        "method",
        "run_key",
        "edit_type",
        "n",
        "failed",
        "psnr_unedit_part",
    ]
    assert "fid ↓" in display(table).columns


def test_per_method_table_gets_the_whole_run_fid_and_no_sets_changes_nothing():
    plain = aggregate(scores())
    assert with_set_scores(plain, run_sets()).loc[0, "fid"] == 12.0
    pd.testing.assert_frame_equal(with_set_scores(plain, pd.DataFrame()), plain)


def test_only_the_standard_network_is_shown(tmp_path):
    standard, old = tmp_path / "standard", tmp_path / "old"
    for folder, frame in (
        (standard, sets_frame()),
        (old, sets_frame().drop(columns="fid_network")),
    ):
        folder.mkdir()
        frame.to_csv(folder / SET_SCORES_FILE, index=False)
    loaded = load_set_scores([standard, old, tmp_path / "none"])
    assert len(loaded) == 3 and set(loaded["fid_network"]) == {NETWORK}


class MeanColour(torch.nn.Module):
    """A stand-in FID feature extractor: per-channel mean and spread."""

    def forward(self, images):
        return torch.cat([images.mean((2, 3)), images.std((2, 3))], dim=1)


def fid_scoring(tiny_cfg) -> tuple[dict, MetricNetworks]:
    """PSNR plus FID/KID, with ``MeanColour`` as the Inception."""
    cfg = {**tiny_cfg, "names": ["psnr_unedit_part"], "fid": {"enabled": True, "kid_subsets": 2}}
    networks = MetricNetworks(cfg)
    networks.__dict__["inception"] = MeanColour()
    return cfg, networks


def test_evaluate_records_network_and_resize(bench, our_run, tiny_cfg):
    cfg, networks = fid_scoring(tiny_cfg)
    evaluate_run(our_run, data_root=bench, metrics_cfg=cfg, networks=networks)
    sets = pd.read_csv(our_run / SET_SCORES_FILE)
    assert set(sets["fid_network"]) == {NETWORK} and set(sets["fid_resize"]) == {"tf_bilinear"}


def test_a_reference_folders_set_scores_are_kept_and_shown_from_scores_dir(
    bench, reference_run, tiny_cfg, tmp_path, capsys
):
    cfg, networks = fid_scoring(tiny_cfg)
    before, scores_dir = listing(reference_run), tmp_path / "scores"
    with read_only(reference_run):
        evaluate_run(
            reference_run,
            data_root=bench,
            metrics_cfg=cfg,
            networks=networks,
            scores_dir=scores_dir,
        )
    assert listing(reference_run) == before
    (sets,) = scores_dir.glob(f"*/{SET_SCORES_FILE}")
    assert len(load_set_scores([sets.parent])) == 4  # the run and its 3 edit types
    args = [*networkless(bench, [reference_run], tmp_path), "metrics.names=[psnr_unedit_part]"]
    assert main(["table", "--format", "csv", *args, f"scores_dir={scores_dir}"]) == 0
    table = csv_parts(capsys.readouterr().out)[1]
    assert table["fid ↓"].notna().all()
