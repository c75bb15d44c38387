"""The evaluation command: metrics per image, reports, methods."""

import json

import numpy as np
import pytest
from PIL import Image

from gladnet_tf import evaluate
from tests.conftest import run_python, write_pairs


@pytest.fixture
def pairs(tmp_path):
    return write_pairs(tmp_path, count=2, height=100, width=110, low=30, divisor=4)


def test_none_method_scores_the_inputs_against_ground_truth(pairs, tmp_path):
    rows, summary = evaluate.evaluate("none", str(pairs))
    from skimage.metrics import peak_signal_noise_ratio

    low = np.asarray(Image.open(pairs / "low" / "0.png"))
    high = np.asarray(Image.open(pairs / "high" / "0.png"))
    assert rows[0]["psnr"] == pytest.approx(peak_signal_noise_ratio(high, low, data_range=255))
    assert summary["images"] == 2 and summary["failed"] == 0
    assert "mean_niqe" not in summary  # NIQE only without ground truth
    assert 0 < summary["mean_ssim"] < 1


def test_baseline_brightens_and_saves_images(pairs, tmp_path):
    rows_none, summary_none = evaluate.evaluate("none", str(pairs))
    rows, summary = evaluate.evaluate("msrcr", str(pairs), save_dir=str(tmp_path / "saved"))
    assert summary["mean_psnr"] != summary_none["mean_psnr"]
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["0.png", "1.png"]


def test_niqe_without_ground_truth_and_reports(pairs, tmp_path):
    (pairs / "low" / "broken.png").write_bytes(b"junk")
    result = run_python(["-m", "gladnet_tf.evaluate", "--method", "none", "--data", str(pairs / "low"),
                         "--report", str(tmp_path / "r" / "none")])
    assert result.returncode == 1  # one file failed
    assert "broken.png" in result.stderr
    report = json.loads((tmp_path / "r" / "none.json").read_text())
    assert report["summary"]["count_niqe"] == 2 and report["summary"]["failed"] == 1
    assert np.isfinite(report["summary"]["mean_niqe"])
    assert (tmp_path / "r" / "none.csv").read_text().splitlines()[0] == "image,niqe,seconds,error"
    assert "mean (none)" in result.stdout


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method"):
        evaluate.make_method("magic")
