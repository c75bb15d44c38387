"""Train GLADNet on paired low/normal-light images.

    python train.py --data DATA_DIR --run_dir runs/my_run [--val_data VAL_DIR] [--preset cpu]
    python train.py --preset smoke --data DATA_DIR --run_dir /tmp/smoke   # seconds on a CPU
    python train.py --recipe recipes/gladnet_real8.json --data_root runs/data/real8 --run_dir runs/real8

DATA_DIR holds low/ and high/ (or normal/) with pairs matched by file name. Run the same
command again to resume a killed run. See README.md ("Training").
"""

from gladnet_tf.commands.train import run  # noqa: E402  (defines the flags)

if __name__ == "__main__":
    run()
