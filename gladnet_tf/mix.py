r"""A training folder made from several pair folders, by links: repeats and identity pairs.

Run it (writes ``OUT/low``, ``OUT/high`` and ``OUT/mix.json``)::

    python -m gladnet_tf.mix --output runs/data/mix \
        --pairs runs/data/synth-s10 --pairs runs/data/synth-s11 \
        --pairs ../shared/datasets/LOL-train-subset:8 \
        --identity runs/data/synth-s10/high

``--pairs DIR[:N]`` takes every (low, high) pair of a folder in the layout ``train.py`` reads
(``low/`` and ``high/`` or ``normal/``, matched by name), listed ``N`` times (default 1), which
is how a small real set is weighted against a large synthetic one. ``--identity DIR[:N]``
takes every image of a plain folder as a pair with itself (low = high): a well-exposed
photo whose right output is the photo unchanged. The paper's black-to-black and
white-to-white pairs teach that black and white stay put; identity pairs (beyond the paper)
teach the same of whole well-exposed images, which a network trained only on darkened
inputs otherwise brightens and repaints.

Entries are named ``LABEL__NAME`` (``LABEL-rK__NAME`` for the K-th repeat), where LABEL is the
source folder's name (``id-`` and its parent's name for identity folders), so names never
collide and every file says where it came from. By default entries are symbolic links to
the sources' absolute paths (nothing is copied; moving a source breaks the mix);
``--link copy`` copies instead. The folder is built under a temporary name and renamed
when complete; an existing non-empty ``--output`` is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from typing import Any, Sequence

from gladnet_tf import atomic
from gladnet_tf import pairs as pairs_lib

LINK_MODES = ("symlink", "copy")


def parse_source(spec: str) -> tuple[str, int]:
    """``'DIR'`` -> (DIR, 1); ``'DIR:8'`` -> (DIR, 8). A colon not followed by digits is part of DIR."""
    match = re.fullmatch(r"(.+):(\d+)", spec)
    if not match:
        return spec, 1
    repeat = int(match.group(2))
    if repeat < 1:
        raise ValueError(f"{spec}: the repeat count after ':' must be at least 1")
    return match.group(1), repeat


def _label(folder, identity):
    folder = os.path.normpath(os.path.abspath(folder))
    name = os.path.basename(folder)
    if identity:
        name = "id-" + os.path.basename(os.path.dirname(folder)) if name in ("high", "normal", "low") \
            else "id-" + name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "source"


def _identity_images(folder):
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: identity folder not found")
    found, problems = pairs_lib.index_folder(folder)
    return [found[stem] for stem in sorted(found)], problems


def _place(source, target, link):
    if link == "symlink":
        os.symlink(os.path.realpath(source), target)
    else:
        shutil.copy2(source, target)


def build_mix(output: str | os.PathLike, pairs: Sequence[tuple[str | os.PathLike, int]] = (),
              identity: Sequence[tuple[str | os.PathLike, int]] = (),
              link: str = "symlink") -> dict[str, Any]:
    """Writes the mix folder; returns its record (also written to ``OUT/mix.json``).

    Args:
        output: folder to create; must not exist or be empty.
        pairs: [(folder with low/ and high/, repeat)].
        identity: [(folder of images, repeat)].
        link: "symlink" or "copy".

    Raises:
        FileExistsError: ``output`` exists and is not empty.
        FileNotFoundError: a source folder is missing or not in the expected layout.
        ValueError: no pairs at all, or a source with problems (each named).
    """
    if link not in LINK_MODES:
        raise ValueError(f"link must be one of {LINK_MODES}, got {link!r}")
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise FileExistsError(f"{output}: exists and is not empty; choose a new folder")
    entries, sources = _plan(pairs, identity)
    with atomic.temporary_folder(output) as work:
        os.makedirs(os.path.join(work, "low"))
        os.makedirs(os.path.join(work, "high"))
        for prefix, low, high in entries:
            stem = os.path.splitext(os.path.basename(low))[0]
            for source, side in ((low, "low"), (high, "high")):
                name = f"{prefix}__{stem}{os.path.splitext(source)[1]}"
                _place(source, os.path.join(work, side, name), link)
        record = {"pairs": len(entries), "link": link, "sources": sources}
        with open(os.path.join(work, "mix.json"), "w") as f:
            json.dump(record, f, indent=2)
    return record


def _plan(pairs, identity):
    """The mix's entries [(name prefix, low path, high path)] and its sources' records.

    Each source gets a unique label (``-2``, ``-3`` on clashes); a source repeated k > 1 times
    appears under the prefixes ``LABEL-r1`` .. ``LABEL-rk``. Raises ValueError listing every
    problem of every source, or when there are no pairs at all.
    """
    entries, problems, sources, labels = [], [], [], set()

    def unique(label):
        base, k = label, 2
        while label in labels:
            label, k = f"{base}-{k}", k + 1
        labels.add(label)
        return label

    def prefixes(label, repeat):
        return [label] if repeat == 1 else [f"{label}-r{k + 1}" for k in range(repeat)]

    for folder, repeat in pairs:
        report = pairs_lib.find_pairs(folder, check_contents=False)
        problems += report.problems
        label = unique(_label(folder, identity=False))
        sources.append({"kind": "pairs", "path": os.path.abspath(folder), "label": label,
                        "repeat": repeat, "pairs": len(report.pairs)})
        entries += [(prefix, low, high) for prefix in prefixes(label, repeat) for low, high in report.pairs]
    for folder, repeat in identity:
        found, folder_problems = _identity_images(folder)
        problems += folder_problems
        label = unique(_label(folder, identity=True))
        sources.append({"kind": "identity", "path": os.path.abspath(folder), "label": label,
                        "repeat": repeat, "pairs": len(found)})
        entries += [(prefix, path, path) for prefix in prefixes(label, repeat) for path in found]
    if problems:
        raise ValueError("sources have problems (fix or remove them):\n  " + "\n  ".join(problems))
    if not entries:
        raise ValueError("no pairs: give at least one --pairs or --identity folder with images")
    return entries, sources


def main(argv: list[str]) -> int:
    del argv
    from absl import flags

    FLAGS = flags.FLAGS
    try:
        record = build_mix(
            FLAGS.output,
            pairs=[parse_source(spec) for spec in FLAGS.pairs or []],
            identity=[parse_source(spec) for spec in FLAGS.identity or []],
            link=FLAGS.link,
        )
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for source in record["sources"]:
        print(f"{source['label']:<28} {source['kind']:<9} {source['pairs']:>6} x {source['repeat']}")
    print(f"{record['pairs']} pairs -> {FLAGS.output}")
    return 0


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("output", None, "Folder to create (low/, high/, mix.json).")
    flags.DEFINE_multi_string("pairs", None, "DIR[:N]: a folder with low/ and high/, listed N times.")
    flags.DEFINE_multi_string("identity", None, "DIR[:N]: a folder of well-exposed images, each "
                              "used as its own target (low = high), listed N times.")
    flags.DEFINE_enum("link", "symlink", LINK_MODES, "Link to the sources or copy them.")
    flags.mark_flags_as_required(["output"])
    app.run(lambda argv: sys.exit(main(argv)))
