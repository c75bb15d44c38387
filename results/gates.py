"""Applies a stage's selection gates to validation logs and ranks the candidates.

    python results/gates.py --log results/validation/bright30.jsonl \
        --log results/validation/bright30-broad.jsonl \
        --reference_log results/validation/bright27.jsonl \
        --reference_log results/validation/bright27-broad.jsonl \
        --reference gladnet_blend21_p320-21f171ba.weights.h5

Reads the JSON lines that ``results/validate.py`` appends (one per weights file and call) and
joins each file's rows by its base name. A row's synthetic sets (``val-NAME-fivek``,
``val-NAME-bsds``) are logged together as ``val-syn``; here they are renamed ``val-NAME`` (for
example ``val-lamp21``, ``val-broad27``), so that one file's lamp and broad rows sit side by
side. The gates are those of stages 29-32 (RESULTS.md), against the reference file:

- ``val-lol20`` PSNR at most ``--max_lol20_drop`` dB below the reference's;
- ``val-fivek100`` PSNR at most ``--max_fivek_drop`` dB below the reference's;
- the largest |R-G| or |B-G| bias of any set (and synthetic kind) at most ``--max_colour``;
- brightness (output mean / target mean) on each ``--bright_set`` closer to 1 than the reference's.

The score is the mean PSNR of ``val-lol20``, ``val-fivek100`` and every ``--bright_set``
(stage 27's score). NIQE, the last gate, is measured separately (``results/niqe_validation.sh``)
in the printed order. Validation logs only: no test set is read.
"""

import json
import sys

from absl import app, flags

FLAGS = flags.FLAGS
REAL = ("val-lol20", "val-fivek100")


def _group(sets):
    """The name that a row's pooled synthetic sets get: ``val-lamp21`` for val-lamp21-fivek/-bsds."""
    synthetic = sorted({s.rsplit("-", 1)[0] for s in sets if s not in REAL})
    return synthetic[0] if len(synthetic) == 1 else "val-syn"


def read_logs(paths):
    """{weights base name: {set name: summary}} from validate.py logs; a later row of the same
    file and set replaces an earlier one. ``val-syn/KIND`` keys are renamed with their group.
    Rows that log their ``path`` (validate.py does) may not join two different files of one base name."""
    table, paths_seen = {}, {}
    for path in paths:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}, line {number}: not a JSON line ({error})") from None
                group = _group(row["sets"])
                if row.get("path") and paths_seen.setdefault(row["weights"], row["path"]) != row["path"]:
                    raise ValueError(f"{path}, line {number}: {row['path']} and {paths_seen[row['weights']]} "
                                     f"share the base name {row['weights']}; give their logs to separate calls")
                sets = table.setdefault(row["weights"], {})
                for key, value in row.items():
                    if isinstance(value, dict) and "psnr" in value:
                        sets[key.replace("val-syn", group, 1)] = value
    return table


def join_logs(logs, reference_logs, reference_name):
    """The candidates' rows, from ``logs`` only, and the reference file's, from both kinds of log.

    Base names such as ``avg-900-1800-10.weights.h5`` recur across runs, so a candidate's sets
    are never filled in from a reference log: only the reference file itself is joined over both.
    """
    table = read_logs(logs)
    reference = read_logs(reference_logs).get(reference_name, {})
    reference.update(table.get(reference_name, {}))  # the candidates' logs are the later rows
    if reference:
        table[reference_name] = reference
    return table


def largest_bias(sets):
    """(|bias|, where) of the largest |R-G| or |B-G| over every set and synthetic kind."""
    return max((abs(s[c]), f"{c} {name}") for name, s in sets.items() for c in ("rg", "bg"))


def check(sets, reference, bright_sets, max_lol20_drop, max_fivek_drop, max_colour):
    """{gate name: passed} for one file's sets against the reference file's."""
    def drop(name):
        return reference[name]["psnr"] - sets[name]["psnr"]
    gates = {"lol20": drop("val-lol20") <= max_lol20_drop,
             "fivek100": drop("val-fivek100") <= max_fivek_drop,
             "colour": largest_bias(sets)[0] <= max_colour}
    for name in bright_sets:
        gates[f"bright {name}"] = abs(sets[name]["bright"] - 1) < abs(reference[name]["bright"] - 1)
    return gates


def score(sets, bright_sets):
    """Stage 27's score: mean PSNR of the real splits and each bright set."""
    names = list(REAL) + list(bright_sets)
    return sum(sets[n]["psnr"] for n in names) / len(names)


def rank(table, reference_name, bright_sets, **limits):
    """[(score, name, gates)] for every file but the reference, best score first."""
    reference = table[reference_name]
    rows = [(score(sets, bright_sets), name, check(sets, reference, bright_sets, **limits))
            for name, sets in table.items() if name != reference_name]
    return sorted(rows, key=lambda r: -r[0])


def print_table(table, reference_name, ranked, bright_sets):
    reference = table[reference_name]
    columns = list(REAL) + list(bright_sets)
    print("weights | score | " + " | ".join(f"{c} dB (vs ref) / bright" for c in columns)
          + " | largest bias | failed gates")
    for value, name, gates in [(score(reference, bright_sets), reference_name, {})] + ranked:
        sets = table[name]
        cells = [f"{sets[c]['psnr']:.2f} ({sets[c]['psnr'] - reference[c]['psnr']:+.2f}) / "
                 f"{sets[c]['bright']:.2f}" for c in columns]
        bias, where = largest_bias(sets)
        failed = ", ".join(g for g, ok in gates.items() if not ok) or ("reference" if not gates else "none")
        print(f"{name} | {value:.3f} | " + " | ".join(cells) + f" | {bias:.3f} ({where}) | {failed}")


def main(argv):
    del argv
    table = join_logs(FLAGS.log, FLAGS.reference_log, FLAGS.reference)
    needed = REAL + tuple(FLAGS.bright_set)
    missing = {n: [k for k in needed if k not in s] for n, s in table.items()}
    missing = {n: sets for n, sets in missing.items() if sets}
    if FLAGS.reference not in table or missing:
        sys.exit(f"gates: sets missing in the logs given: {missing or {FLAGS.reference: list(needed)}}")
    limits = dict(max_lol20_drop=FLAGS.max_lol20_drop, max_fivek_drop=FLAGS.max_fivek_drop,
                  max_colour=FLAGS.max_colour)
    ranked = rank(table, FLAGS.reference, FLAGS.bright_set, **limits)
    print_table(table, FLAGS.reference, ranked, FLAGS.bright_set)
    return 0


if __name__ == "__main__":
    flags.DEFINE_multi_string("log", None, "Validation logs of the candidates.", required=True)
    flags.DEFINE_multi_string("reference_log", [], "Logs holding the reference file's rows.")
    flags.DEFINE_string("reference", "gladnet_blend21_p320-21f171ba.weights.h5",
                        "Base name of the reference weights file (the default when stages 29-31 "
                        "were judged).")
    flags.DEFINE_multi_string("bright_set", ["val-lamp21", "val-broad27"],
                              "Sets whose brightness must come closer to 1 (and that join the score).")
    flags.DEFINE_float("max_lol20_drop", 0.3, "Largest allowed val-lol20 PSNR drop (dB).")
    flags.DEFINE_float("max_fivek_drop", 1.0, "Largest allowed val-fivek100 PSNR drop (dB).")
    flags.DEFINE_float("max_colour", 0.02, "Largest allowed |R-G| or |B-G| bias.")
    app.run(main)
