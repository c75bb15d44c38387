"""Training configuration: one typed object that round-trips through JSON.

    python train.py --data DIR --run_dir runs/NAME                # the original's defaults
    python train.py --preset smoke --data DIR --run_dir /tmp/smoke  # seconds on a CPU
"""

import dataclasses
import json
from typing import Any


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run, with the original's defaults; saved as ``config.json``.

    ``PRESETS`` holds named sets of changes (``TrainConfig(**PRESETS["smoke"])``). A resumed
    run must match its saved config except for the keys of ``RESUMABLE_CHANGES``.
    """

    # Data.
    data: str = ""  # folder with low/ and high/ (or normal/)
    val_data: str = ""  # optional folder of full-size validation pairs
    skip_bad_pairs: bool = False
    # Schedule (defaults as the original: batch 8, patch 384, 50 epochs).
    patch_size: int = 384
    batch_size: int = 8  # per replica; global batch = batch_size x replicas
    epochs: int = 50
    steps: int = 0  # if > 0, overrides epochs
    # Loss and optimiser (Adam, lr = 1e-3 * 0.96 ** (step / 100), not staircase).
    channel_order: str = "paper"  # "paper" (R .299, G .587, B .114) or "original" (BGR slip)
    learning_rate: float = 1e-3
    decay_steps: int = 100
    decay_rate: float = 0.96
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    # Model.
    global_size: int = 96
    global_filters: int = 64
    detail_filters: int = 128
    # "float32", or "mixed_bfloat16": convolutions in bfloat16, weights, optimizer state and
    # loss in float32 (Keras mixed precision). Faster on CPUs with AVX-512 BF16 or AMX and on
    # recent GPUs/TPUs; the weights it writes are float32 like any others.
    precision: str = "float32"
    # Weights file (.weights.h5) to start from instead of a random init (fine-tuning). Read
    # once, when the run starts; a resumed run continues from its own checkpoints.
    init_weights: str = ""
    # Distribution.
    strategy: str = "default"  # default | mirrored | multi_worker | tpu
    cpu_replicas: int = 2  # logical CPU devices for "mirrored" on a machine without GPUs
    # Run bookkeeping.
    seed: int = 0
    checkpoint_every: int = 100  # steps
    keep_checkpoints: int = 3
    log_every: int = 20  # steps
    val_every: int = 500  # steps; 0 = only at the end
    num_sample_images: int = 3  # validation images written to TensorBoard
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism()

    def to_json(self) -> str:
        """All fields as indented JSON with sorted keys (what ``config.json`` holds)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> "TrainConfig":
        """The config of a ``to_json`` text; missing keys take their defaults.

        Raises ValueError for keys that are not fields (and ``json.JSONDecodeError``, a
        ValueError, for text that is not JSON).
        """
        values = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys: {unknown}")
        return cls(**values)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied (``dataclasses.replace``); this one is unchanged."""
        return dataclasses.replace(self, **changes)


# Keys that may change between a run and its resumption (they do not alter the trajectory).
RESUMABLE_CHANGES = {"steps", "epochs", "log_every", "val_every", "val_data", "keep_checkpoints",
                     "num_sample_images", "checkpoint_every", "strategy", "cpu_replicas", "skip_bad_pairs",
                     "init_weights"}  # read only when a run starts: a path that moved changes nothing

# Training precisions: "mixed_bfloat16" computes in bfloat16 with float32 weights and state.
PRECISIONS = ("float32", "mixed_bfloat16")

PRESETS = {
    # Runs in seconds on a CPU: tiny patches, a handful of steps, everything exercised.
    "smoke": dict(patch_size=32, batch_size=2, steps=6, checkpoint_every=3, log_every=1, val_every=3,
                  num_sample_images=1),
    # The schedule of the weights shipped in checkpoints/ (trained on a 2-core CPU).
    "cpu": dict(patch_size=128, batch_size=8, steps=6000, checkpoint_every=50, log_every=25, val_every=250),
    "original": dict(),
}
