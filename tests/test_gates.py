"""results/gates.py: a stage's selection gates applied to validation logs."""

import json
from pathlib import Path

import pytest

from tests.conftest import load_script

VALIDATION_LOGS = Path(__file__).resolve().parents[1] / "results" / "validation"


def _summary(psnr, bright=1.0, rg=0.0, bg=0.0):
    return {"psnr": psnr, "bright": bright, "rg": rg, "bg": bg}


def _write_log(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _rows(name, lol, fivek, lamp, broad, lamp_bright, broad_bright, bias=0.0):
    real = {"weights": name, "sets": ["val-lol20", "val-fivek100", "val-lamp21-fivek", "val-lamp21-bsds"],
            "val-lol20": _summary(lol), "val-fivek100": _summary(fivek, bg=bias),
            "val-syn": _summary(lamp, lamp_bright), "val-syn/gray": _summary(lamp, lamp_bright)}
    wide = {"weights": name, "sets": ["val-broad27-fivek", "val-broad27-bsds"],
            "val-syn": _summary(broad, broad_bright)}
    return real, wide


@pytest.fixture
def gates():
    return load_script("results/gates.py")


def test_rows_of_one_file_join_and_synthetic_sets_take_their_group_name(gates, tmp_path):
    real, wide = _rows("a.h5", 20.0, 21.0, 17.0, 18.0, 0.8, 0.9)
    table = gates.read_logs([_write_log(tmp_path / "1.jsonl", [real]), _write_log(tmp_path / "2.jsonl", [wide])])
    assert sorted(table["a.h5"]) == ["val-broad27", "val-fivek100", "val-lamp21", "val-lamp21/gray", "val-lol20"]
    assert table["a.h5"]["val-broad27"]["psnr"] == 18.0 and table["a.h5"]["val-lamp21"]["bright"] == 0.8


def test_each_gate_fails_on_its_own_and_the_score_is_stage_27s(gates, tmp_path):
    ref = _rows("ref.h5", 20.6, 21.6, 17.0, 17.0, 0.8, 0.85)
    good = _rows("good.h5", 20.4, 20.7, 20.0, 21.0, 0.95, 0.97)        # LOL -0.2, FiveK -0.9
    dark_lol = _rows("lol.h5", 20.2, 21.6, 20.0, 21.0, 0.95, 0.97)     # LOL -0.4
    dim_fivek = _rows("fivek.h5", 20.6, 20.5, 20.0, 21.0, 0.95, 0.97)  # FiveK -1.1
    cast = _rows("cast.h5", 20.6, 21.6, 20.0, 21.0, 0.95, 0.97, bias=-0.03)
    over = _rows("over.h5", 20.6, 21.6, 20.0, 21.0, 1.25, 0.97)        # lamp 0.25 from 1, ref 0.2
    dim = _rows("dim.h5", 20.6, 21.6, 20.0, 21.0, 0.95, 0.84)          # broad further from 1 than ref
    log = _write_log(tmp_path / "l.jsonl",
                     [r for rows in (ref, good, dark_lol, dim_fivek, cast, over, dim) for r in rows])
    ranked = gates.rank(gates.read_logs([log]), "ref.h5", ["val-lamp21", "val-broad27"],
                        max_lol20_drop=0.3, max_fivek_drop=1.0, max_colour=0.02)
    failed = {name: sorted(g for g, ok in checks.items() if not ok) for _, name, checks in ranked}
    assert failed == {"good.h5": [], "lol.h5": ["lol20"], "fivek.h5": ["fivek100"],
                      "cast.h5": ["colour"], "over.h5": ["bright val-lamp21"], "dim.h5": ["bright val-broad27"]}
    scores = {name: value for value, name, _ in ranked}
    assert scores["good.h5"] == pytest.approx((20.4 + 20.7 + 20.0 + 21.0) / 4)
    assert [r[0] for r in ranked] == sorted(scores.values(), reverse=True)


def test_the_committed_stage_27_logs_give_its_published_scores(gates):
    logs = [str(VALIDATION_LOGS / name) for name in ("bright27.jsonl", "bright27-broad.jsonl")]
    ranked = gates.rank(gates.read_logs(logs), "gladnet_blend21_p320-21f171ba.weights.h5",
                        ["val-lamp21", "val-broad27"], max_lol20_drop=0.3, max_fivek_drop=1.0, max_colour=0.02)
    table = {name: (round(value, 3), sorted(g for g, ok in checks.items() if not ok)) for value, name, checks in ranked}
    assert table == {"avg-900-1800-10.weights.h5": (20.919, ["lol20"]),  # RESULTS.md, stage 27
                     "mid27.weights.h5": (20.399, []), "quarter27.weights.h5": (19.861, [])}


def test_a_candidate_is_never_filled_in_from_a_reference_log(gates, tmp_path):
    # The same base name in an older run's log (the reference log) must not lend its broad row
    # to a candidate whose own logs lack one.
    ref = _rows("ref.h5", 20.6, 21.6, 17.0, 17.0, 0.8, 0.85)
    old = _rows("avg.h5", 19.0, 20.0, 15.0, 15.0, 0.7, 0.7)
    new_real, _ = _rows("avg.h5", 20.5, 21.0, 20.0, 21.0, 0.95, 0.97)
    reference_log = _write_log(tmp_path / "ref.jsonl", [*ref, *old])
    candidate_log = _write_log(tmp_path / "new.jsonl", [new_real])
    table = gates.join_logs([candidate_log], [reference_log], "ref.h5")
    assert sorted(table) == ["avg.h5", "ref.h5"]
    assert "val-broad27" not in table["avg.h5"] and table["avg.h5"]["val-lol20"]["psnr"] == 20.5
    assert table["ref.h5"]["val-broad27"]["psnr"] == 17.0


def test_two_files_of_one_base_name_are_refused_and_a_bad_line_is_named(gates, tmp_path):
    first, _ = _rows("avg.h5", 20.5, 21.0, 20.0, 21.0, 0.95, 0.97)
    second = dict(first, path="runs/control/avg.h5")
    log = _write_log(tmp_path / "l.jsonl", [dict(first, path="runs/a/avg.h5"), second])
    with pytest.raises(ValueError, match="share the base name avg.h5"):
        gates.read_logs([log])
    again = _write_log(tmp_path / "again.jsonl", [dict(first, path="runs/a/avg.h5")] * 2)  # re-validated
    assert gates.read_logs([again])["avg.h5"]["val-lol20"]["psnr"] == 20.5
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(first) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"broken.jsonl, line 2"):
        gates.read_logs([str(broken)])
