"""Writes tests/golden/presets.npz: each shipped preset's 8-bit output on the golden input.

Run it when a preset is added or changed on purpose (and say why in the commit):

    python tests/scripts/make_golden.py

``tests/test_presets.py`` then checks that every shipped weights file, read and run the way
``test.py`` does, still gives these outputs.
"""

import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.test_presets import GOLDEN, golden_input, preset_output  # noqa: E402

from gladnet_tf import checkpoints  # noqa: E402


def main():
    image = golden_input()
    outputs = {name: preset_output(record["path"], image)
               for name, record in checkpoints.presets().items()}
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **outputs)
    for name, output in outputs.items():
        print(f"{name}: mean {output.mean():.3f}")


if __name__ == "__main__":
    main()
