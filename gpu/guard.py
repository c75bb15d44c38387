"""Runs a Python script or module with TensorFlow unimportable, as on a GPU machine that has
none, and records whether anything tried to import it.

    python gpu/guard.py REPORT.json train.py --flag ...
    python gpu/guard.py REPORT.json -m gladnet_tf.recipe --flag ...

Every ``import tensorflow`` (or ``tf_keras``) raises ModuleNotFoundError, as it does where the
package is absent, whether or not it is installed here. At exit REPORT.json holds
``{"attempts": [{"module", "stack"}], "tensorflow_loaded": bool}``: code that tried the import
and handled its absence is listed (Keras looks for TensorFlow in a few places and does
without); ``tensorflow_loaded`` must be false.
"""

import atexit
import importlib.abc
import json
import os
import runpy
import sys
import traceback

BLOCKED = ("tensorflow", "tf_keras")


class Block(importlib.abc.MetaPathFinder):
    """A meta-path finder that refuses the blocked packages and remembers who asked."""

    def __init__(self):
        self.attempts = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in BLOCKED:
            return None
        if len(self.attempts) < 20:
            frames = [f for f in traceback.extract_stack()[:-1] if not f.filename.startswith("<frozen")]
            self.attempts.append({"module": name, "stack": [f"{f.filename}:{f.lineno} {f.line}"
                                                            for f in frames[-6:]]})
        raise ModuleNotFoundError(f"No module named {name!r} (the GPU machine has no TensorFlow)",
                                  name=name)


def install(report_path):
    """Blocks the imports from now on in this process; writes the report at exit."""
    block = Block()
    sys.meta_path.insert(0, block)

    def write_report():
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        with open(report_path, "w") as f:
            json.dump({"pid": os.getpid(), "attempts": block.attempts, "tensorflow_loaded": bool(loaded),
                       "loaded": loaded[:20]}, f, indent=1)

    atexit.register(write_report)
    return block


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    report, target, *rest = argv
    install(report)
    if target == "-m":
        module, *rest = rest
        sys.argv = [module, *rest]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [target, *rest]
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
        runpy.run_path(target, run_name="__main__")


if __name__ == "__main__":
    sys.path.pop(0)  # this folder is not the target's
    main(sys.argv[1:])
