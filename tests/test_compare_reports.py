"""results/compare_reports.py: paired differences, their bootstrap interval, and bad reports."""

import numpy as np
import pytest

from tests.conftest import load_script


@pytest.fixture(scope="module")
def compare():
    return load_script("results/compare_reports.py")


def write_report(path, values):
    lines = ["image,niqe,seconds"] + [f"{name},{value},0.1" for name, value in values.items()]
    path.write_text("\n".join(lines) + "\n")


def test_constant_difference_has_a_zero_width_interval(compare):
    mean, low, high = compare.paired_bootstrap([0.25] * 10, resamples=200)
    assert mean == pytest.approx(0.25) and low == pytest.approx(0.25) and high == pytest.approx(0.25)


def test_interval_contains_the_mean_and_narrows_with_more_images(compare):
    rng = np.random.default_rng(1)
    small = compare.paired_bootstrap(rng.normal(0.1, 1.0, 16), resamples=2000)
    large = compare.paired_bootstrap(rng.normal(0.1, 1.0, 1024), resamples=2000)
    for mean, low, high in (small, large):
        assert low < mean < high
    assert (large[2] - large[1]) < (small[2] - small[1]) / 4  # about 1/sqrt(64) as wide


def test_main_pairs_images_by_name(tmp_path, compare, capsys):
    write_report(tmp_path / "a.csv", {"1.jpg": 3.0, "2.jpg": 4.0, "3.jpg": 2.0})
    write_report(tmp_path / "b.csv", {"2.jpg": 5.0, "1.jpg": 2.0, "9.jpg": 1.0})
    assert compare.main([str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--resamples", "100"]) == 0
    out = capsys.readouterr().out
    assert "2 images in both" in out
    assert "mean A - B +0.0000" in out  # (3 - 2) and (4 - 5)
    assert "A lower on 1, higher on 1, equal on 0" in out


def test_missing_metric_is_named(tmp_path, compare, capsys):
    write_report(tmp_path / "a.csv", {"1.jpg": 3.0})
    assert compare.main([str(tmp_path / "a.csv"), str(tmp_path / "a.csv"), "--metric", "psnr"]) == 1
    assert "a.csv: no column 'psnr'" in capsys.readouterr().err
