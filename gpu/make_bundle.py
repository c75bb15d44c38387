"""Makes the bundle that a GPU machine with JAX but no TensorFlow (and no Keras) trains from.

    python gpu/make_bundle.py                      # -> runs/bundle (ignored by git)
    python gpu/make_bundle.py --recipe recipes/gladnet_bright12.json --stage bright12

Then, on the GPU machine, in a copy of this checkout with runs/bundle in it, one command:
``python3 gpu/train_on_device.py --out OUTDIR`` (see that file and README.md, "Training on a
GPU with JAX").

What goes in (``runs/bundle/``):

- ``wheels/``: Keras and what it imports at load that such a machine may lack: ``keras``,
  ``namex`` and ``optree`` always (the machine has none of them), ``absl-py``, ``rich``,
  ``markdown-it-py`` and ``mdurl`` to be used only where missing. The pure-Python ones are
  zipped from this environment's installed copies (the versions tested here; no network);
  ``optree`` is compiled, so it travels once per Python version named by ``--python``
  (default 3.12, the GPU machine's: the installed copy for this interpreter's version,
  ``pip download`` for the others; a bundle that runs here needs this interpreter's too).
- ``files/``: the training data of one recipe stage, content-addressed (a file used twice,
  a FiveK target that is both a pair's target and a synthesis source, travels once):
  the synthesis sources of the stage's ``synthesize`` steps, developed and downscaled here
  as the synthesis would (``synthesis.read_linear`` with the step's ``max_side``: raw files
  developed by LibRaw, which the GPU machine lacks), and the stage's real pairs. JPEG files
  that need no change travel byte for byte; the others as JPEG at ``--jpeg_quality``
  (4:4:4, no chroma subsampling) or, with ``--lossless``, PNG.
- ``recipe.json``: the stage's data steps and config rewritten for the bundle: its
  ``synthesize`` steps (same seeds and options) read ``${shared}/sources/STEP``, its mix reads
  ``${shared}/pairs/SET``; a ``select`` step over a synthesize step's pairs (the lamp-like
  filter of stages 23-26) goes with it unchanged and runs there, after the synthesis; the GPU
  machine builds it with ``gladnet_tf.recipe``.
- ``manifest.json``: what each logical file is (``files`` blob), the sets, their counts and
  sizes, the wheels, the checkout's commit.

Only training data goes in: the files of the recipe's selection steps that the stage does
not use (its validation splits) and the test folders (LOL-eval15, DICM, MEF, NPE) are
checked to be absent, and the build stops if one is found.

Size: the working tree travels with the bundle, 64 MiB in all. ``--max_mib auto`` (the
default) takes 63 MiB minus what else travels (tracked and untracked, not ignored, files),
at most 45 MiB. When the data does not fit, the sets named by ``--keep_whole`` (default:
the real low-light LOL pairs) stay whole and every other set keeps the same fraction of its
files (evenly spaced in name order, at least one); the bundle recipe then scales the
``synthesize`` steps' ``num_per_image`` and the mix repeats of the thinned pair sets by the
inverse fraction, so that each set contributes as many pairs to the mix as in the recipe (what
rounding a small ``num_per_image`` leaves over goes into that set's mix repeat, as near as
whole numbers allow).
"""

import argparse
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gladnet_tf import recipe as recipe_lib  # noqa: E402  (standard library only)

MIB = 2 ** 20
DEFAULT_OUTPUT = REPO / "runs" / "bundle"  # the folder that travels
TRAVEL_LIMIT_MIB = 63.0  # of the 64 MiB that travel, a little kept free
DEFAULT_MAX_MIB = 45.0
INIT_WEIGHTS = "init.weights.h5"  # with --weights_stay: the stage's initial weights, in the bundle
TEST_FOLDERS = ("LOL-eval15", "DICM", "MEF", "NPE")  # ../shared/datasets/SOURCES.md: test sets
# (distribution, top-level module): always installed there; installed only where missing.
ALWAYS = [("keras", "keras"), ("namex", "namex"), ("optree", "optree")]
FALLBACK = [("absl-py", "absl"), ("rich", "rich"), ("markdown-it-py", "markdown_it"), ("mdurl", "mdurl")]
COMPILED = {"optree"}
DEVICE_PYTHON = "3.12"  # the GPU machine's python3


class BundleError(RuntimeError):
    """The bundle cannot be made as asked; the message says why."""


# ----------------------------------------------------------------------------------------
# Wheels
# ----------------------------------------------------------------------------------------


def _wheel_tags(dist):
    text = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
    return tags or ["py3-none-any"]


def wheel_from_installed(name, folder):
    """Zips the installed distribution ``name`` (its RECORD's files, without bytecode, unit
    tests (``*_test.py``) or the RECORD itself) into a wheel in ``folder``, for unzipping onto
    ``sys.path`` there; returns the file name."""
    dist = metadata.distribution(name)
    tag = _wheel_tags(dist)[0]
    stem = dist.metadata["Name"].replace("-", "_")
    filename = f"{stem}-{dist.version}-{tag}.whl"
    with zipfile.ZipFile(Path(folder) / filename, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as wheel:
        for entry in sorted(dist.files or [], key=str):
            relative = str(entry)
            if (relative.startswith("..") or "__pycache__" in relative or relative.endswith(".pyc")
                    or relative.endswith("_test.py") or relative.endswith(".dist-info/RECORD")):
                continue
            path = Path(dist.locate_file(entry))
            if path.is_file():
                wheel.write(path, relative)
    return filename


def download_wheel(name, version, python, folder):
    """``pip download`` of one binary wheel for CPython ``python`` (e.g. "3.12") on x86-64
    Linux; returns the file name."""
    before = set(os.listdir(folder))
    platforms = []
    for platform in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                     "manylinux2014_x86_64"):
        platforms += ["--platform", platform]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", python, "--implementation", "cp", *platforms, "-d", str(folder),
               f"{name}=={version}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    new = sorted(set(os.listdir(folder)) - before)
    if result.returncode or not new:
        raise BundleError(f"{name}=={version} for Python {python}: pip download failed "
                          f"({(result.stderr or result.stdout).strip()[-400:]}). Keras needs optree "
                          f"(a compiled package) on the JAX backend, so a wheel for the GPU "
                          f"machine's Python must travel: download it where a package index is "
                          f"reachable, or pass --python with this interpreter's version only.")
    return new[0]


def make_wheels(folder, pythons):
    """The wheels (see the module docstring); returns [{file, module, when, python}]."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    wheels = []
    for group, when in ((ALWAYS, "always"), (FALLBACK, "missing")):
        for name, module in group:
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                raise BundleError(f"{name} is not installed here (pip install -r requirements.txt)") from None
            if name in COMPILED:
                for python in pythons:
                    filename = (wheel_from_installed(name, folder) if python == here
                                else download_wheel(name, version, python, folder))
                    wheels.append({"file": filename, "module": module, "when": when, "python": python})
            else:
                wheels.append({"file": wheel_from_installed(name, folder), "module": module,
                               "when": when, "python": "any"})
    return wheels


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------


class Store:
    """Content-addressed files (``files/HASH.EXT``), written once each."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sizes = {}

    def put(self, data, extension):
        name = hashlib.sha256(data).hexdigest()[:20] + extension
        if name not in self.sizes:
            (self.folder / name).write_bytes(data)
            self.sizes[name] = len(data)
        return name


def _jpeg_bytes(rgb8, quality):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb8, "RGB").save(buffer, format="JPEG", quality=quality, subsampling=0,
                                      optimize=True)
    return buffer.getvalue()


def _png_bytes(rgb8):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb8, "RGB").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _is_plain_jpeg(path, max_side=None):
    """A baseline 8-bit RGB or gray JPEG no larger than ``max_side``: travels as it is."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return (image.format == "JPEG" and image.mode in ("RGB", "L")
                    and (not max_side or max(image.size) <= max_side))
    except OSError:
        return False


class Encoder:
    """Source file -> (blob name, extension, how) in the store, memoised per (path, max_side)."""

    def __init__(self, store, quality, lossless):
        self.store, self.quality, self.lossless = store, quality, lossless
        self.done = {}

    def _encode(self, rgb8):
        if self.lossless:
            return self.store.put(_png_bytes(rgb8), ".png"), ".png"
        return self.store.put(_jpeg_bytes(rgb8, self.quality), ".jpg"), ".jpg"

    def source(self, path, max_side):
        """A synthesis source: the image the synthesis would decode (``read_linear``, raw
        developed, downscaled in linear light to ``max_side``), sRGB-encoded to 8 bits."""
        key = (os.path.realpath(path), max_side, "source")
        if key not in self.done:
            if _is_plain_jpeg(path, max_side):
                blob = self.store.put(Path(path).read_bytes(), ".jpg")
                self.done[key] = (blob, ".jpg", "copied")
            else:
                from gladnet_tf import degradation, develop, images

                decoded = develop.read_linear(path, max_side=max_side or None)
                rgb8 = images.quantize(degradation.linear_to_srgb(decoded.image), 8)
                self.done[key] = (*self._encode(rgb8), "encoded")
        return self.done[key]

    def pair_image(self, path):
        """One image of a real pair, at its own size: copied if a plain JPEG, else encoded."""
        key = (os.path.realpath(path), None, "pair")
        if key not in self.done:
            if _is_plain_jpeg(path):
                self.done[key] = (self.store.put(Path(path).read_bytes(), ".jpg"), ".jpg", "copied")
            else:
                from gladnet_tf import images

                rgb8 = images.quantize(images.read(path).rgb, 8)
                self.done[key] = (*self._encode(rgb8), "encoded")
        return self.done[key]


def _reachable(recipe, reference):
    """Names of the data steps that ``reference`` (``@NAME`` or a path) depends on."""
    steps = {step["output"]: step for step in recipe["data"]}
    found, todo = set(), [reference]
    while todo:
        value = todo.pop()
        if not isinstance(value, str) or not value.startswith("@") or value[1:] in found:
            continue
        name = value[1:]
        if name not in steps:
            raise BundleError(f"the recipe names @{name}, which no data step makes")
        found.add(name)
        step = steps[name]
        todo += [step.get("input"), step.get("low"), step.get("high")]
        if step["kind"] == "mix":
            todo += [p for p, _ in step.get("pairs", [])] + [p for p, _ in step.get("identity", [])]
    return found


def _stage(recipe, stage):
    stages = recipe["stages"]
    if stage in (None, "", "-1", "last"):
        return stages[-1]
    if not str(stage).isdigit():
        named = [s for s in stages if s.get("name") == stage]
        if not named:
            raise BundleError(f"no stage named {stage!r}; stages: {[s.get('name') for s in stages]}")
        return named[0]
    return stages[int(stage)]


def evenly_spaced(count, keep):
    """``keep`` of ``count`` indices, evenly spaced (as SOURCES.md picks LOL's subset)."""
    keep = max(1, min(count, keep))
    return sorted({min(count - 1, round(i * count / keep)) for i in range(keep)})


def plan_data(recipe, stage, shared, work):
    """The stage's training data as sets, resolved to files here.

    Returns (sets, mix step, forbidden real paths): each set a dict with ``name``, ``kind``
    ("pairs" or "sources"), ``items`` ([(logical name, [source paths])]), and for sources the
    synthesize step and the select step over its pairs (or None).
    """
    data = stage["config"].get("data", "")
    steps = {step["output"]: step for step in recipe["data"]}
    needed = _reachable(recipe, data)
    links = _build_links(recipe, steps, shared, work)
    forbidden = _forbidden_files(links, needed, shared, work)
    mix = _mix_step(stage, data, steps)
    sets = [_mix_entry_set(reference, steps, links, shared, work) for reference, _ in mix.get("pairs", [])]
    names = [s["name"] for s in sets]
    if len(set(names)) != len(names):
        raise BundleError(f"two sets of the mix share a name: {names}")
    return sets, mix, forbidden


def _build_links(recipe, steps, shared, work):
    """Builds the recipe's select and pair_folders steps (folders of links) in ``work``, all
    but the filters of synthetic pairs (built on the GPU machine, after its synthesis);
    returns the names of the steps built."""
    synthesized = {name for name, step in steps.items() if step["kind"] == "synthesize"}
    links = [name for name, step in steps.items() if step["kind"] in ("select", "pair_folders")
             and not _reachable(recipe, f"@{name}") & synthesized]
    recipe_lib.build(recipe, work, shared, only=links, log=io.StringIO())
    return links


def _forbidden_files(links, needed, shared, work):
    """Real paths that must not travel: the files of the built steps the stage does not use
    (``needed`` names those it does) and of the test folders (``TEST_FOLDERS``)."""
    forbidden = set()
    for name in links:
        if name not in needed:
            for root, _, files in os.walk(Path(work) / name):
                forbidden |= {os.path.realpath(os.path.join(root, f)) for f in files
                              if not f.startswith(".")}
    for folder in TEST_FOLDERS:
        for root, _, files in os.walk(Path(recipe_lib.resolve("${shared}", work, shared)) / "datasets" / folder):
            forbidden |= {os.path.realpath(os.path.join(root, f)) for f in files}
    return forbidden


def _mix_step(stage, data, steps):
    """The mix step the stage's ``data`` names; BundleError for anything else, or a mix with
    identity folders."""
    if not data.startswith("@") or steps[data[1:]]["kind"] != "mix":
        raise BundleError(f"stage {stage.get('name')!r}: its data {data!r} is not a mix step; "
                          f"bundles are made of a mix of pair folders and synthesize steps")
    mix = steps[data[1:]]
    if mix.get("identity"):
        raise BundleError("mix steps with identity folders are not bundled yet")
    return mix


def _mix_entry_set(reference, steps, links, shared, work):
    """The set of one mix entry (see ``plan_data``): the sources of a synthesize step (or of
    the one a select step filters), or a folder of pairs."""
    step = steps.get(reference[1:]) if reference.startswith("@") else None
    select = None
    if step is not None and step["kind"] == "select" and step["output"] not in links:
        select, step = step, steps[step["input"][1:]]  # a filter of a synthesize step's pairs
        if step["kind"] != "synthesize":
            raise BundleError(f"{reference}: a select over {step['kind']} output is not bundled")
    if step is not None and step["kind"] == "synthesize":
        return _sources_set(step, select, shared, work)
    if step is not None and step["kind"] == "mix":
        raise BundleError(f"{reference}: a mix inside a mix is not bundled")
    return _pairs_set(reference, shared, work)


def _sources_set(step, select, shared, work):
    """The synthesis sources of a synthesize step, as a "sources" set."""
    from gladnet_tf import synthesis

    source = Path(recipe_lib.resolve(step["input"], work, shared))
    found = synthesis.find_sources(source)
    relatives = [p.relative_to(source).as_posix() for p in found]
    return {"name": step["output"], "kind": "sources", "step": step, "select": select,
            "items": [(r, [str(p)]) for r, p in zip(relatives, found)]}


def _pairs_set(reference, shared, work):
    """The pairs of a folder (a path, or a step built here), as a "pairs" set."""
    from gladnet_tf import pairs as pairs_lib

    folder = recipe_lib.resolve(reference, work, shared)
    report = pairs_lib.find_pairs(folder, check_contents=False)
    if report.problems:
        raise BundleError(f"{folder}: {report.problems[:3]}")
    name = reference[1:] if reference.startswith("@") else Path(folder).name
    return {"name": name, "kind": "pairs", "reference": reference,
            "items": [(Path(low).stem, [low, high]) for low, high in report.pairs]}


def encode_sets(sets, encoder, limit=None):
    """Encodes every item of every set (the first ``limit`` of each with ``limit``); fills
    each item's blobs and logical file names."""
    for data_set in sets:
        items = data_set["items"][:limit] if limit else data_set["items"]
        encoded, logical_names = [], set()
        for logical, sources in items:
            if data_set["kind"] == "sources":
                blob, extension, how = encoder.source(sources[0], data_set["step"].get("max_side", 1024))
                stem = logical.rsplit(".", 1)[0]
                name = stem + extension
                if name in logical_names:  # a.png and a.tif side by side
                    name = f"{stem}_{logical.rsplit('.', 1)[-1].lower()}{extension}"
                logical_names.add(name)
                encoded.append({"files": {name: blob}, "how": [how], "sources": sources})
            else:
                (low, low_ext, low_how), (high, high_ext, high_how) = (
                    encoder.pair_image(sources[0]), encoder.pair_image(sources[1]))
                encoded.append({"files": {f"low/{logical}{low_ext}": low, f"high/{logical}{high_ext}": high},
                                "how": [low_how, high_how], "sources": sources})
        data_set["encoded"] = encoded
        print(f"  {data_set['name']}: {len(encoded)} {'sources' if data_set['kind'] == 'sources' else 'pairs'}",
              file=sys.stderr, flush=True)


def choose(sets, sizes, budget, keep_whole):
    """Picks each set's kept items under ``budget`` bytes (see the module docstring);
    returns {set name: [indices]} and the fraction of the thinned sets."""

    def picks(fraction):
        return {s["name"]: (list(range(len(s["encoded"]))) if s["name"] in keep_whole or fraction >= 1
                            else evenly_spaced(len(s["encoded"]), math.floor(fraction * len(s["encoded"]))))
                for s in sets}

    def total(chosen):
        blobs = {blob for s in sets for i in chosen[s["name"]] for blob in s["encoded"][i]["files"].values()}
        return sum(sizes[b] for b in blobs)

    if total(picks(1.0)) <= budget:
        return picks(1.0), 1.0
    low, high = 0.0, 1.0
    if total(picks(low)) > budget:
        raise BundleError(f"the sets kept whole ({', '.join(sorted(keep_whole)) or 'none'}) and one "
                          f"file of every other set take {total(picks(low)) / MIB:.1f} MiB, over the "
                          f"{budget / MIB:.1f} MiB left for data: lower --jpeg_quality, or keep fewer "
                          f"sets whole (--keep_whole)")
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if total(picks(middle)) <= budget else (low, middle)
    return picks(low), low


def shipped_weights(name):
    """Whether a checkout-relative path is a shipped weights file (``checkpoints/``)."""
    return name.startswith("checkpoints/") and name.endswith(".weights.h5")


def travelling_bytes(repo=REPO, weights_stay=False):
    """Bytes of what travels besides the bundle: tracked and untracked-not-ignored files;
    with ``weights_stay``, not the shipped weights files (see ``--weights_stay``)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=repo, capture_output=True, check=True).stdout.split(b"\0")
    total = 0
    for name in map(os.fsdecode, filter(None, listed)):
        path = Path(repo) / name
        if path.is_file() and not path.is_symlink() and not (weights_stay and shipped_weights(name)):
            total += path.stat().st_size
    return total


def carry_init_weights(stage, folder):
    """Copies the stage's initial weights to ``folder/INIT_WEIGHTS``; returns their record."""
    init = stage["config"].get("init_weights")
    if not init:
        return None
    source = REPO / recipe_lib.resolve(init, folder, None)  # relative to the checkout (or absolute)
    if not source.is_file():
        raise BundleError(f"{source}: the stage's init_weights is not a file")
    data = source.read_bytes()
    (folder / INIT_WEIGHTS).write_bytes(data)
    return {"from": init, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def bundle_recipe(recipe, stage, mix, sets, chosen):
    """The stage rewritten to read the bundle (``${shared}`` = the materialised bundle)."""
    data, entries = [], []
    by_name = {s["name"]: s for s in sets}
    repeats = dict((ref, n) for ref, n in mix.get("pairs", []))
    for data_set in sets:
        full, kept = len(data_set["encoded"]), len(chosen[data_set["name"]])
        scale = full / kept
        if data_set["kind"] == "sources":
            step = dict(data_set["step"])
            step["input"] = f"${{shared}}/sources/{data_set['name']}"
            wanted = step.get("num_per_image", 1) * scale
            step["num_per_image"] = max(1, round(wanted))
            data.append(step)
            select = data_set.get("select")
            if select is not None:  # its filter runs there, on the pairs synthesized there
                data.append(dict(select))
            used = select["output"] if select is not None else data_set["name"]
            # what rounding num_per_image left over (1 pair per source where 1.45 were due) goes
            # into the repeat, as near as a whole number can
            residual = wanted / step["num_per_image"]
            entries.append([f"@{used}", max(1, round(repeats[f"@{used}"] * residual))])
        else:
            entries.append([f"${{shared}}/pairs/{data_set['name']}",
                            max(1, round(repeats[data_set["reference"]] * scale))])
    assert len(entries) == len(by_name)
    data.append({"kind": "mix", "output": mix["output"], "pairs": entries})
    config = dict(stage["config"])
    config["data"] = f"@{mix['output']}"
    return {"name": f"{recipe['name']}-bundle",
            "description": (f"Stage {stage.get('name')!r} of {recipe['name']} as a bundle for a GPU "
                            f"machine (gpu/make_bundle.py): the same synthesis steps and mix, read "
                            f"from the bundle's files."),
            "data": data, "stages": [{"name": stage.get("name", "stage"), "config": config}]}


def make(output, recipe_path, stage=None, shared=None, max_mib="auto", jpeg_quality=92, lossless=False,
         keep_whole=("LOL-train-subset", "lol-more-train"), pythons=(DEVICE_PYTHON,), limit=None,
         weights_stay=False):
    """Builds the bundle in ``output`` (replaced); returns its manifest."""
    start = time.monotonic()
    output = Path(output)
    recipe = recipe_lib.load(recipe_path)
    chosen_stage = _stage(recipe, stage)
    pythons = list(dict.fromkeys(pythons))
    partial = _fresh_partial(output)
    wheels, wheel_bytes = _bundle_wheels(partial, pythons)
    travelling = travelling_bytes(weights_stay=weights_stay)
    init_record = carry_init_weights(chosen_stage, partial) if weights_stay else None
    data_budget = _data_budget(max_mib, travelling, wheel_bytes, init_record)
    with tempfile.TemporaryDirectory(prefix="bundle-links-") as work:
        print(f"data of stage {chosen_stage.get('name')!r} of {recipe['name']} ...", file=sys.stderr, flush=True)
        sets, mix, forbidden = plan_data(recipe, chosen_stage, shared, work)
        store = Store(partial / "files.all")
        encode_sets(sets, Encoder(store, jpeg_quality, lossless), limit)
    chosen, fraction = choose(sets, store.sizes, data_budget, set(keep_whole))
    files, records = _keep_chosen(partial, sets, chosen, forbidden)
    data_bytes = sum((partial / "files" / b).stat().st_size for b in set(files.values()))
    new_recipe = bundle_recipe(recipe, chosen_stage, mix, sets, chosen)
    (partial / "recipe.json").write_text(json.dumps(new_recipe, indent=1) + "\n")
    commit = _commit()
    manifest = {
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
        "recipe": os.path.relpath(recipe_path, REPO), "stage": chosen_stage.get("name"),
        "jpeg_quality": None if lossless else jpeg_quality, "lossless": lossless,
        "fraction_of_thinned_sets": fraction, "keep_whole": sorted(keep_whole), "limit": limit,
        "sets": records, "wheels": wheels, "init_weights": init_record, "weights_stay": weights_stay, "bytes": {"wheels": wheel_bytes, "data": data_bytes},
        "files": dict(sorted(files.items())),
    }
    total = _write_manifest(partial, manifest)
    shutil.rmtree(output, ignore_errors=True)
    os.replace(partial, output)
    print(f"{output}: {total / MIB:.1f} MiB ({wheel_bytes / MIB:.1f} wheels, {data_bytes / MIB:.1f} data) "
          f"in {time.monotonic() - start:.0f} s; with the working tree {(total + travelling) / MIB:.1f} MiB",
          file=sys.stderr)
    _print_records(records)
    _check_travel_size(output, total, travelling)
    return manifest


def _fresh_partial(output):
    """``OUTPUT.partial``, emptied and made: where the bundle is built before it replaces ``output``."""
    partial = output.with_name(output.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _bundle_wheels(partial, pythons):
    """Makes ``partial/wheels`` for the Python versions ``pythons``; returns (their records,
    their bytes)."""
    print(f"wheels for Python {', '.join(pythons)} ...", file=sys.stderr, flush=True)
    wheels = make_wheels(partial / "wheels", pythons)
    wheel_bytes = sum((partial / "wheels" / w["file"]).stat().st_size for w in wheels)
    return wheels, wheel_bytes


def _data_budget(max_mib, travelling, wheel_bytes, init_record):
    """Bytes left for data under ``--max_mib`` (``"auto"`` or MiB), once the wheels, the
    initial weights and some room for the manifest and recipe are counted; prints it (and a
    warning where the MiB given with the ``travelling`` bytes are over TRAVEL_LIMIT_MIB)."""
    room = TRAVEL_LIMIT_MIB * MIB - travelling
    if max_mib == "auto":
        budget = min(DEFAULT_MAX_MIB * MIB, room)
    else:
        budget = float(max_mib) * MIB
        if budget > room:
            print(f"warning: {max_mib} MiB with the {travelling / MIB:.1f} MiB of the working tree is over "
                  f"{TRAVEL_LIMIT_MIB:.0f} MiB", file=sys.stderr)
    data_budget = budget - wheel_bytes - 64 * 1024 - (init_record or {}).get("bytes", 0)  # + manifest, recipe
    print(f"working tree {travelling / MIB:.1f} MiB; bundle budget {budget / MIB:.1f} MiB "
          f"({data_budget / MIB:.1f} MiB for data)", file=sys.stderr, flush=True)
    return data_budget


def _keep_chosen(partial, sets, chosen, forbidden):
    """Moves the chosen items' blobs from ``partial/files.all`` to ``partial/files`` (and drops
    the rest); returns ({logical path: blob}, a record per set). BundleError where a chosen
    item's source is in ``forbidden``."""
    files, records = {}, []
    (partial / "files").mkdir()
    for data_set in sets:
        records.append(_keep_set(partial, data_set, chosen[data_set["name"]], forbidden, files))
    shutil.rmtree(partial / "files.all")
    for record, data_set in zip(records, sets):
        blobs = {b for i in chosen[data_set["name"]] for b in data_set["encoded"][i]["files"].values()}
        record["bytes"] = sum((partial / "files" / b).stat().st_size for b in blobs)
    return files, records


def _keep_set(partial, data_set, kept, forbidden, files):
    """Moves the blobs of ``data_set``'s items at indices ``kept`` into ``partial/files``,
    adding their logical paths to ``files``; returns the set's record (counts, no bytes yet)."""
    for index in kept:
        item = data_set["encoded"][index]
        for source in item["sources"]:
            if os.path.realpath(source) in forbidden:
                raise BundleError(f"{source} is validation or test data (set {data_set['name']}): "
                                  f"not bundled; the recipe's training selection includes it")
        for name, blob in item["files"].items():
            prefix = "sources" if data_set["kind"] == "sources" else "pairs"
            files[f"{prefix}/{data_set['name']}/{name}"] = blob
            if not (partial / "files" / blob).exists():
                os.replace(partial / "files.all" / blob, partial / "files" / blob)
    hows = [h for i in kept for h in data_set["encoded"][i]["how"]]
    return {"name": data_set["name"], "kind": data_set["kind"], "available": len(data_set["encoded"]),
            "kept": len(kept), "copied": hows.count("copied"), "encoded": hows.count("encoded")}


def _commit():
    """The checkout's commit (``git rev-parse HEAD``; empty where git does not answer)."""
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()


def _write_manifest(partial, manifest):
    """Writes ``partial/manifest.json``, then again with ``bytes.total`` (the bundle's bytes,
    the manifest's first version counted) added to ``manifest``; returns that total."""
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in partial.rglob("*") if p.is_file())
    manifest["bytes"]["total"] = total
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return total


def _print_records(records):
    """One line per set of the bundle: items kept of those available, MiB, copied and encoded."""
    for record in records:
        print(f"  {record['name']:>18}: {record['kept']:4d} of {record['available']:4d} {record['kind']}, "
              f"{record['bytes'] / MIB:5.1f} MiB ({record['copied']} files copied, {record['encoded']} encoded)",
              file=sys.stderr)


def _check_travel_size(output, total, travelling):
    """Where the bundle (``total`` bytes) and the working tree are over the 64 MiB that travel:
    BundleError for the default output folder, a warning for any other."""
    if total + travelling > 64 * MIB:
        message = (f"the bundle ({total / MIB:.1f} MiB) and the working tree ({travelling / MIB:.1f} MiB) "
                   f"are over the 64 MiB that travel: lower --max_mib")
        if output.resolve() == DEFAULT_OUTPUT.resolve():
            raise BundleError(message)
        print(f"warning: {message}", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default=str(REPO / "recipes" / "gladnet_bright12.json"))
    parser.add_argument("--stage", default="last", help="index or name (default: the last stage)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--shared", default=None, help="the shared data folder (default ../shared)")
    parser.add_argument("--max_mib", default="auto", help="bundle size limit in MiB, or auto")
    parser.add_argument("--jpeg_quality", type=int, default=92)
    parser.add_argument("--lossless", action="store_true", help="PNG instead of JPEG for re-encoded files")
    parser.add_argument("--keep_whole", default="LOL-train-subset,lol-more-train",
                        help="comma-separated sets never thinned ('' for none)")
    parser.add_argument("--python", default=DEVICE_PYTHON,
                        help="comma-separated Python versions the bundle runs on (optree is compiled; "
                             "default: the GPU machine's)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many files per set (tests)")
    parser.add_argument("--weights_stay", action="store_true",
                        help="the checkout travels without its checkpoints/**/*.weights.h5 files: the "
                             "stage's initial weights go in the bundle and the budget counts the rest out")
    args = parser.parse_args(argv)
    try:
        make(args.output, args.recipe, args.stage, args.shared, args.max_mib, args.jpeg_quality, args.lossless,
             [s for s in args.keep_whole.split(",") if s], [p for p in args.python.split(",") if p], args.limit,
             args.weights_stay)
    except (BundleError, recipe_lib.RecipeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
