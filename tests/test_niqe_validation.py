"""results/niqe_validation.sh: a checkpoint's NIQE on the validation inputs, paired with a baseline."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np

from tests.conftest import REPO, load_script, random_weights, write_pairs


def test_scores_both_splits_and_pairs_them_with_a_baseline(tmp_path):
    data_root = tmp_path / "data"
    for split, seed in (("val-lol20", 0), ("val-fivek100", 1)):
        write_pairs(data_root / split, 2, 160, 192, seed=seed)
    out = tmp_path / "niqe"
    out.mkdir()
    baseline = {"0.png": 5.0, "1.png": 7.0}  # a baseline report, as evaluate writes it
    for split in ("val-lol20", "val-fivek100"):
        rows = ["image,niqe,seconds"] + [f"{name},{value},0.1" for name, value in baseline.items()]
        (out / f"msrcr_{split}.csv").write_text("\n".join(rows) + "\n")
    weights = random_weights(tmp_path, seed=3)
    read_report = load_script("results/compare_reports.py").read_report  # the reports' one reader
    env = dict(os.environ, NIQE_OUT=str(out), TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO),
               PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(["bash", str(REPO / "results/niqe_validation.sh"), str(data_root), "cand", str(weights)],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    for split in ("val-lol20", "val-fivek100"):
        scores = read_report(out / f"cand_{split}.csv", "niqe")
        assert sorted(scores) == ["0.png", "1.png"]  # the low images, scored without ground truth
        assert all(np.isfinite(value) for value in scores.values())
        expected = np.mean([scores[name] - baseline[name] for name in baseline])
        line = next(line for line in result.stdout.splitlines() if line.startswith(f"{split} vs msrcr: mean A - B"))
        assert float(re.search(r"mean A - B ([-+][0-9.]+)", line).group(1)) == round(expected, 4)
    assert not (REPO / "results/validation/niqe/cand_val-lol20.csv").exists()  # NIQE_OUT is honoured
