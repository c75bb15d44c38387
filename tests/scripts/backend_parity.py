"""Runs GLADNet on the Keras backend named by KERAS_BACKEND and compares with stored outputs.

    KERAS_BACKEND=jax python tests/scripts/backend_parity.py WEIGHTS CASES.npz ...

Each ``.npz`` holds ``input`` (HxWx3 uint8, or float32 in [0, 1]) and ``output`` (the expected
float32 HxWx3 output; oracle files also hold ``global96``). Prints one JSON object: the
backend, whether TensorFlow was imported, and per case the max |difference|.
"""

import json
import os
import sys

import numpy as np


def main(weights, cases):
    from gladnet_tf import model as model_lib

    import keras

    model = model_lib.load(weights)
    global_branch = model.global_branch()
    rows = []
    for path in cases:
        case = np.load(path)
        image = case["input"]
        image = (image.astype(np.float32) / 255.0) if image.dtype == np.uint8 else image
        output = keras.ops.convert_to_numpy(model(image[None], training=False))[0]
        row = {"case": os.path.basename(path), "shape": list(image.shape[:2]),
               "output_max_abs": float(np.abs(output - case["output"]).max())}
        if "global96" in case:
            global96 = keras.ops.convert_to_numpy(global_branch(image[None], training=False))[0]
            row["global96_max_abs"] = float(np.abs(global96 - case["global96"]).max())
        rows.append(row)
    print(json.dumps({"backend": keras.backend.backend(),
                      "tensorflow_imported": "tensorflow" in sys.modules, "cases": rows}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
