"""Recipes: how a shipped preset was made, as data (data build steps, then training stages).

A recipe is a JSON file (``recipes/*.json``) that rebuilds a preset from ``../shared`` with
two commands::

    python -m gladnet_tf.recipe --recipe recipes/gladnet_real8.json --data_root runs/data/real8
    python train.py --recipe recipes/gladnet_real8.json --stage 0 --run_dir runs/real8 \
        --data_root runs/data/real8

Layout of a recipe::

    {"name": ..., "description": ...,
     "data": [STEP, ...],            # run in order by ``build``
     "stages": [{"name": ..., "config": {TrainConfig fields}}, ...]}

A recipe may start with ``"extends": "OTHER.json"`` (a file beside it): the other recipe's
data steps and stages come first, then its own, so a preset fine-tuned from another one
carries the whole chain.

Paths in a recipe are strings with two placeholders: ``${shared}`` (the shared data folder,
by default ``../shared`` beside the checkout) and ``${checkout}`` (the repository root). A
path that starts with ``@`` names the output of a data step, relative to ``--data_root``.
Nothing in a recipe names a machine.

Data steps (``"kind"``):

- ``select``: a folder of links to some images of ``input`` (a plain folder), or of some pairs
  of ``input`` (a folder with ``low/`` and ``high/``, when ``"pairs": true``), chosen by
  ``SELECTION`` keys applied to the sorted names: ``"order"`` (``"name"`` or ``"numeric"``:
  by the number in the name), ``"skip_first"`` N, ``"first"`` N, ``"every"`` [K, R] (keep the
  names whose index i has i % K == R), ``"drop_every"`` [K, R] (the complement). For pairs,
  ``"low_lamp_like"``: true then keeps only the pairs whose low image is lamp-like
  (``degradation.is_lamp_like``: mostly dark with a few bright lights), after the other keys;
  an object ``{"max_median": M, "min_bright_share": S}`` (either key optional) moves the rule's
  two thresholds (a larger M keeps dark photos with broad bright areas too).
- ``pair_folders``: a pair folder from two plain folders (``low``, ``high``) of same-named
  images, with the same ``SELECTION`` keys (FiveK's input/ and target/).
- ``synthesize``: ``gladnet_tf.synthesis.make_dataset`` on ``input`` with ``seed``,
  ``num_per_image``, ``max_side`` and ``options`` (``degradation.SynthesisOptions`` fields).
- ``mix``: ``gladnet_tf.mix.build_mix`` of ``pairs`` (``[PATH, repeat]``) and ``identity``.

Every step writes its folder atomically (under a temporary name, renamed when complete), and
``build`` skips a step whose folder exists, so an interrupted build resumes. Each folder
holds the step it was made from (``.recipe-step.json``); a folder made from a different step
(another recipe's step of the same name, say) is an error, never reused in silence.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, TextIO

from gladnet_tf import atomic

CHECKOUT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = CHECKOUT.parent / "shared"
_SELECTION_KEYS = {"order", "skip_first", "first", "every", "drop_every"}
_PAIR_SELECTION_KEYS = _SELECTION_KEYS | {"low_lamp_like"}
STEP_FILE = ".recipe-step.json"


class RecipeError(ValueError):
    """A recipe that cannot be read or built; the message names the file and the step."""


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Reads and checks a recipe file; returns its dictionary."""
    path = Path(path)
    try:
        recipe = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RecipeError(f"{path}: cannot read recipe: {error}") from None
    if "extends" in recipe:  # a later preset: the parent's data and stages come first
        parent = load(path.parent / recipe.pop("extends"))
        recipe["data"] = parent["data"] + recipe.get("data", [])
        recipe["stages"] = parent["stages"] + recipe.get("stages", [])
    for key in ("name", "data", "stages"):
        if key not in recipe:
            raise RecipeError(f"{path}: recipe has no {key!r}")
    outputs = set()
    for index, step in enumerate(recipe["data"]):
        if step.get("kind") not in _BUILDERS:
            raise RecipeError(f"{path}: data step {index} has kind {step.get('kind')!r}; "
                              f"known: {sorted(_BUILDERS)}")
        if not step.get("output") or step["output"] in outputs:
            raise RecipeError(f"{path}: data step {index} needs a new 'output' name")
        outputs.add(step["output"])
    from gladnet_tf import config as config_lib  # standard library only

    known = set(config_lib.TrainConfig.__dataclass_fields__)
    for index, stage in enumerate(recipe["stages"]):
        unknown = sorted(set(stage.get("config", {})) - known)
        if unknown:
            raise RecipeError(f"{path}: stage {index} has unknown config keys {unknown}")
    return recipe


def resolve(value: str, data_root: str | os.PathLike, shared: str | os.PathLike | None = None) -> str:
    """Expands ``${shared}``, ``${checkout}`` and a leading ``@`` (a data step's output)."""
    shared = Path(shared) if shared else DEFAULT_SHARED
    if value.startswith("@"):
        return str(Path(data_root) / value[1:])
    return value.replace("${shared}", str(shared)).replace("${checkout}", str(CHECKOUT))


def _number(name: str) -> tuple[int, str]:
    match = re.search(r"\d+", name)
    return (int(match.group()) if match else -1, name)


def select_names(names: list[str], selection: dict[str, Any], limit: int | None = None) -> list[str]:
    """Applies a recipe's selection keys (see the module docstring) to file names.

    ``limit`` keeps at most that many of the chosen names (tests build a recipe small).
    """
    unknown = set(selection) - _SELECTION_KEYS
    if unknown:
        raise RecipeError(f"unknown selection keys {sorted(unknown)}")
    order = selection.get("order", "name")
    if order not in ("name", "numeric"):
        raise RecipeError(f"order must be 'name' or 'numeric', got {order!r}")
    chosen = sorted(names, key=_number if order == "numeric" else None)
    chosen = chosen[selection.get("skip_first", 0):]
    if "first" in selection:
        chosen = chosen[:selection["first"]]
    if "every" in selection:
        k, r = selection["every"]
        chosen = [n for i, n in enumerate(chosen) if i % k == r]
    if "drop_every" in selection:
        k, r = selection["drop_every"]
        chosen = [n for i, n in enumerate(chosen) if i % k != r]
    return chosen[:limit] if limit else chosen


def _images_in(folder: Path) -> dict[str, Path]:
    """Stem -> path of the image files (RGB or raw) directly inside ``folder``; of two with
    one stem, the later in sorted order."""
    from gladnet_tf import develop, images

    if not folder.is_dir():
        raise RecipeError(f"{folder}: folder not found")
    found = images.find_images(folder, extensions=develop.SOURCE_EXTENSIONS, files_only=True)
    return {Path(p).stem: Path(p) for p in found}


def _link_all(work: Path, links: dict[str, Path]) -> None:
    for relative, source in links.items():
        target = work / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.abspath(source), target)


_LAMP_RULE_KEYS = {"max_median", "min_bright_share"}


def _lamp_rule(value: Any, where: str) -> dict[str, float]:
    """``low_lamp_like``'s value -> keyword arguments of ``degradation.is_lamp_like``."""
    if value is True:
        return {}
    if not isinstance(value, dict) or not value.keys() <= _LAMP_RULE_KEYS or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
        raise RecipeError(f"{where}: low_lamp_like is true or an object with numeric "
                          f"{sorted(_LAMP_RULE_KEYS)}, not {value!r}")
    return {k: float(v) for k, v in value.items()}


def _lamp_like(path: Path, rule: dict[str, float]) -> bool:
    from gladnet_tf import degradation, images

    return degradation.is_lamp_like(images.read(path).rgb, **rule)


def _selected_pairs(low: Path, high: Path, selection: dict[str, Any], limit=None) -> dict[str, Path]:
    lows, highs = _images_in(low), _images_in(high)
    by_content = selection.get("low_lamp_like")  # then ``limit`` caps what the filter keeps
    by_name = {k: v for k, v in selection.items() if k != "low_lamp_like"}
    stems = select_names(sorted(set(lows) & set(highs)), by_name, None if by_content else limit)
    if by_content:
        rule = _lamp_rule(by_content, str(low))
        kept = [stem for stem in stems if _lamp_like(lows[stem], rule)][:limit]
        # A limited build (tests) keeps the recipe's shape: its first pair if the filter keeps none.
        stems = kept or (stems[:1] if limit else [])
    if not stems:
        raise RecipeError(f"{low} / {high}: the selection keeps no pair")
    links = {}
    for stem in stems:
        links[f"low/{lows[stem].name}"] = lows[stem]
        links[f"high/{highs[stem].name}"] = highs[stem]
    return links


def _build_select(step: dict, output: Path, paths, limit=None) -> dict:
    source = Path(paths(step["input"]))
    selection = {k: v for k, v in step.items() if k in _PAIR_SELECTION_KEYS}
    if "low_lamp_like" in selection and not step.get("pairs"):
        raise RecipeError(f"{step['output']}: low_lamp_like selects pairs; add \"pairs\": true")
    if step.get("pairs"):
        from gladnet_tf import images

        high = images.find_high_folder(str(source))
        links = _selected_pairs(source / "low", Path(high) if high else source / "high", selection, limit)
    else:
        found = _images_in(source)
        stems = select_names(sorted(found), selection, limit)
        if not stems:
            raise RecipeError(f"{source}: the selection keeps no image")
        links = {found[s].name: found[s] for s in stems}
    _atomic_folder(output, lambda work: _link_all(work, links))
    return {"files": len(links)}


def _build_pair_folders(step: dict, output: Path, paths, limit=None) -> dict:
    selection = {k: v for k, v in step.items() if k in _PAIR_SELECTION_KEYS}
    links = _selected_pairs(Path(paths(step["low"])), Path(paths(step["high"])), selection, limit)
    _atomic_folder(output, lambda work: _link_all(work, links))
    return {"pairs": len(links) // 2}


def _build_synthesize(step: dict, output: Path, paths, limit=None) -> dict:
    from gladnet_tf import degradation, synthesis

    options = degradation.SynthesisOptions(**step.get("options", {}))
    source = Path(paths(step["input"]))
    if limit:  # the first `limit` sources, by links that keep their relative paths
        small = output.with_name(output.name + ".sources")
        if not small.exists():
            found = synthesis.find_sources(source)[:limit]
            _atomic_folder(small, lambda work: _link_all(
                work, {p.relative_to(source).as_posix(): p for p in found}))
        source = small

    def make(work: Path) -> None:
        report = synthesis.make_dataset(
            source, work, options, seed=step.get("seed", 0),
            num_per_image=1 if limit else step.get("num_per_image", 1),
            max_side=step.get("max_side", 1024),
            num_workers=step.get("num_workers", os.cpu_count() or 1), progress=sys.stderr)
        if report.failures:
            raise RecipeError(f"synthesis of {step['input']}: {len(report.failures)} sources failed: "
                              f"{report.failures[:3]}")

    _atomic_folder(output, make)
    return {}


def _build_mix(step: dict, output: Path, paths, limit=None) -> dict:
    from gladnet_tf import mix

    del limit  # a mix of small folders is small
    record = mix.build_mix(str(output),
                           pairs=[(paths(p), int(n)) for p, n in step.get("pairs", [])],
                           identity=[(paths(p), int(n)) for p, n in step.get("identity", [])])
    return {"pairs": record["pairs"]}


_BUILDERS = {"select": _build_select, "pair_folders": _build_pair_folders,
             "synthesize": _build_synthesize, "mix": _build_mix}


def _atomic_folder(output: Path, fill) -> None:
    """Runs ``fill(work)`` on a temporary folder beside ``output``, then renames it."""
    with atomic.temporary_folder(output) as work:
        fill(Path(work))


def build(recipe: dict, data_root: str | os.PathLike, shared: str | os.PathLike | None = None,
          only: list[str] | None = None, limit: int | None = None,
          log: TextIO = sys.stderr) -> dict[str, dict]:
    """Runs the recipe's data steps in order (all, or those named in ``only``).

    A step whose output folder already exists is skipped (a build resumes). ``limit`` makes
    a small copy of the recipe's data for tests: at most that many images per selection and
    synthesis source folder, one variant each, and a lamp-like selection that keeps no pair of
    so few keeps the first. Returns ``{output name: what the step made}``.
    """
    data_root = Path(data_root)
    paths = lambda value: resolve(value, data_root, shared)  # noqa: E731
    done = {}
    for step in recipe["data"]:
        name = step["output"]
        if only and name not in only:
            continue
        output = data_root / name
        stamp = {"step": step, "limit": limit}
        if output.exists():
            _check_stamp(output, stamp)
            print(f"{name}: exists, skipped", file=log)
            done[name] = {"skipped": True}
            continue
        print(f"{name}: {step['kind']} ...", file=log, flush=True)
        try:
            done[name] = _BUILDERS[step["kind"]](step, output, paths, limit)
        except (KeyError, TypeError) as error:
            raise RecipeError(f"data step {name!r}: bad or missing key: {error}") from None
        _write_stamp(output, stamp)
        print(f"{name}: done {done[name]}", file=log, flush=True)
    return done


def _write_stamp(output: Path, stamp: dict) -> None:
    atomic.write_bytes(output / STEP_FILE, (json.dumps(stamp, indent=1, sort_keys=True) + "\n").encode())


def _check_stamp(output: Path, stamp: dict) -> None:
    """An existing step folder must come from the same step; one without a record (made
    before records were kept, or killed just before writing it) is taken as it is."""
    path = output / STEP_FILE
    if not path.exists():
        _write_stamp(output, stamp)
        return
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RecipeError(f"{path}: unreadable step record ({error}); delete the folder") from None
    if found != json.loads(json.dumps(stamp)):
        raise RecipeError(
            f"{output} was built from a different data step: {found} (this recipe's step: "
            f"{stamp}); use another --data_root or delete the folder to rebuild it")


def stage_config(recipe: dict, stage: int | str, data_root: str | os.PathLike,
                 shared: str | os.PathLike | None = None) -> dict[str, Any]:
    """The TrainConfig values of one stage (by index, name, or "last"), with paths resolved."""
    stages = recipe["stages"]
    if stage == "last":
        stage = len(stages) - 1  # out of range below when there are no stages
    if isinstance(stage, str) and not stage.isdigit():
        named = [s for s in stages if s.get("name") == stage]
        if not named:
            raise RecipeError(f"no stage named {stage!r}; stages: {[s.get('name') for s in stages]}")
        chosen = named[0]
    else:
        if not 0 <= int(stage) < len(stages):
            raise RecipeError(f"stage {stage} out of range (the recipe has {len(stages)})")
        chosen = stages[int(stage)]
    values = dict(chosen.get("config", {}))
    for key in ("data", "val_data", "init_weights"):
        if values.get(key):
            values[key] = resolve(values[key], data_root, shared)
    return values


def main(argv: list[str]) -> int:
    from absl import flags

    FLAGS = flags.FLAGS
    try:
        recipe = load(FLAGS.recipe)
        build(recipe, FLAGS.data_root, FLAGS.shared, only=FLAGS.only)
    except (RecipeError, FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("recipe", None, "Recipe file (recipes/*.json).")
    flags.DEFINE_string("data_root", None, "Folder for the recipe's data steps' outputs.")
    flags.DEFINE_string("shared", None, "Shared data folder (default: ../shared beside the checkout).")
    flags.DEFINE_list("only", None, "Build only these data steps (output names).")
    flags.mark_flags_as_required(["recipe", "data_root"])
    app.run(lambda argv: sys.exit(main(argv)))
