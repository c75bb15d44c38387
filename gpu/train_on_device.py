"""One command that trains GLADNet on a GPU machine with JAX but no TensorFlow or Keras.

    python3 gpu/train_on_device.py --out OUTDIR            # there (about 9 minutes)
    python gpu/train_on_device.py --out /tmp/out --smoke   # here, on JAX's CPU (a minute)

Needs the bundle made here by ``gpu/make_bundle.py`` (``runs/bundle``) in the checkout, and on
the machine: Python with JAX, numpy, Pillow, h5py (and tifffile); nothing is downloaded. What
it does, each Python step in its own process with TensorFlow unimportable (``gpu/guard.py``):

1. unzips the bundle's wheels (Keras, namex, optree for this Python; absl-py, rich,
   markdown-it-py, mdurl where missing) into ``WORK/site`` and runs everything with that
   folder and the checkout on PYTHONPATH and ``KERAS_BACKEND=jax``;
2. lays the bundle's files out as a shared data folder (links) and builds the bundle
   recipe's data there with ``gladnet_tf.recipe``: the synthesis in numpy on every CPU core,
   then the mix of synthetic and real pairs;
3. meanwhile measures the device's bfloat16 rates (``gpu/conv_rate.py``: a convolution of
   the detail branch's shape at the training batch and patch, and a matrix product);
4. trains: ``train.py --recipe BUNDLE/recipe.json`` (the recipe stage's learning rate,
   schedule, seed and initial weights) with ``--device_data`` (the pairs in the GPU's
   memory), ``--precision mixed_bfloat16``, the GPU-sized ``--patch_size`` and
   ``--batch_size`` given here, for ``--train_seconds`` of wall clock (and never past
   ``--budget_seconds`` from the start): then SIGTERM, on which train.py saves a checkpoint
   and stops;
5. writes under ``--out`` as it goes (at most 8 files there): ``device.log`` (everything
   printed), ``gladnet_gpu.weights.h5`` (the newest checkpoint's weights, replaced at each
   checkpoint), ``throughput.json`` (rates and timings, rewritten at each checkpoint), and at
   the end ``run.tar.gz`` (the run folder with its newest checkpoint, optimizer state
   included, so the run can be resumed or shipped here with ``python -m gladnet_tf.ship``).

``throughput.json``: ``training.steps_per_second`` and ``megapixels_per_second`` over the
logged windows after the first (which holds the compilation), the training TFLOP/s from
GLADNet's FLOPs per pixel (``gladnet_tf.flops``), and that rate as a fraction of the
convolution, convolution-training and matrix-product rates measured in the same run.

Exit status 0 when at least one checkpoint was written and nothing loaded TensorFlow.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from importlib import util as importlib_util
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO))

from gladnet_tf import flops, run_folder  # noqa: E402  (standard library only)

OUT_FILES = ("device.log", "gladnet_gpu.weights.h5", "throughput.json", "run.tar.gz")
_PROGRESS = re.compile(r"step (\d+)/\d+ loss (\S+) lr \S+ ([\d.]+) steps/s")

INIT_WEIGHTS = "init.weights.h5"  # the stage's initial weights in a bundle (make_bundle.py --weights_stay)

SMOKE = {"patch_size": 32, "batch_size": 2, "steps": 6, "checkpoint_every": 2, "log_every": 1,
         "train_seconds": 240, "budget_seconds": 420, "conv": (2, 32, 16, 128, 3)}
GPU = {"patch_size": 320, "batch_size": 48, "steps": None, "checkpoint_every": 500, "log_every": 50,
       "train_seconds": 480, "budget_seconds": 540, "conv": (None, None, 128, 8192, 20)}


class Driver:
    def __init__(self, args):
        self.args, self.start = args, time.monotonic()
        self.out = Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.work = Path(args.work).resolve()
        self.bundle = Path(args.bundle).resolve()
        self.log_file = open(self.out / "device.log", "a", buffering=1)
        self.times = {}
        self.reports = []
        self.python = args.python or sys.executable

    # -- output ----------------------------------------------------------------------------

    def say(self, message):
        line = f"[{time.monotonic() - self.start:7.1f}s] {message}"
        print(line, flush=True)
        self.log_file.write(line + "\n")

    def write_out(self, name, data):
        """``OUT/name`` replaced atomically (bytes or a JSON-able object)."""
        assert name in OUT_FILES, name
        if not isinstance(data, bytes):
            data = (json.dumps(data, indent=1) + "\n").encode()
        partial = self.out / f".{name}.partial"
        partial.write_bytes(data)
        os.replace(partial, self.out / name)

    # -- steps -----------------------------------------------------------------------------

    def install_wheels(self):
        """Unzips the wheels this Python needs into WORK/site; returns the folder."""
        manifest = json.loads((self.bundle / "manifest.json").read_text())
        site = self.work / "site"
        shutil.rmtree(site, ignore_errors=True)
        site.mkdir(parents=True)
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        installed = []
        for wheel in manifest["wheels"]:
            if wheel["python"] not in ("any", python):
                continue
            if wheel["when"] == "missing" and importlib_util.find_spec(wheel["module"]) is not None:
                continue
            with zipfile.ZipFile(self.bundle / "wheels" / wheel["file"]) as archive:
                archive.extractall(site)
            installed.append(wheel["file"])
        if not any(w.startswith("optree-") for w in installed):
            raise SystemExit(f"the bundle has no optree wheel for Python {python}: make it with "
                             f"gpu/make_bundle.py --python {python}")
        self.say(f"wheels unzipped into {site}: {', '.join(installed)}")
        return site, manifest

    def environment(self, site):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(REPO), env.get("PYTHONPATH")]))
        env.update(KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        return env

    def lay_out_shared(self, manifest):
        """WORK/shared/LOGICAL -> BUNDLE/files/BLOB links; returns WORK/shared."""
        shared = self.work / "shared"
        shutil.rmtree(shared, ignore_errors=True)
        for logical, blob in manifest["files"].items():
            target = shared / logical
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(self.bundle / "files" / blob, target)
        self.say(f"{len(manifest['files'])} bundle files laid out in {shared}")
        return shared

    def start_python(self, name, arguments, env):
        """Starts ``python gpu/guard.py REPORT ARGUMENTS`` with its output in the log."""
        report = self.work / f"guard-{name}.json"
        self.reports.append(report)
        command = [self.python, str(HERE / "guard.py"), str(report), *map(str, arguments)]
        self.say(f"{name}: {' '.join(command[3:])}")
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)

    def wait(self, name, process, timeout):
        try:
            code = process.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
            self.say(f"{name}: killed after {timeout:.0f} s")
        self.say(f"{name}: exit status {code}")
        return code

    def train_arguments(self, settings):
        args = self.args
        arguments = ["train.py", "--recipe", self.bundle / "recipe.json", "--stage", "0",
                     "--data_root", self.work / "data", "--run_dir", self.work / "run",
                     "--patch_size", settings["patch_size"], "--batch_size", settings["batch_size"],
                     "--precision", args.precision, "--checkpoint_every", settings["checkpoint_every"],
                     "--log_every", settings["log_every"], "--keep_checkpoints", 2, "--val_every", 0,
                     "--steps", settings["steps"] or 10 ** 7]
        if not args.no_device_data:
            arguments.append("--device_data")
        if args.learning_rate:
            arguments += ["--learning_rate", args.learning_rate]
        if args.from_scratch:
            arguments += ["--init_weights", ""]
        elif args.init_weights:
            arguments += ["--init_weights", args.init_weights]
        elif (self.bundle / INIT_WEIGHTS).is_file():
            arguments += ["--init_weights", self.bundle / INIT_WEIGHTS]
        return arguments

    # -- results ---------------------------------------------------------------------------

    def progress(self, settings):
        """Training rates from the run's log.txt (windows after the first)."""
        path = self.work / "run" / "log.txt"
        windows = []
        if path.exists():
            previous = None
            for line in path.read_text().splitlines():
                match = _PROGRESS.search(line)
                if match:
                    step, loss, rate = int(match.group(1)), float(match.group(2)), float(match.group(3))
                    if previous is not None and step > previous:
                        windows.append((step - previous, rate, loss))
                    elif previous is None:
                        windows.append((step, rate, loss))
                    previous = step
        steady = windows[1:]
        steps = sum(w[0] for w in steady)
        seconds = sum(w[0] / w[1] for w in steady if w[1] > 0)
        pixels_per_step = settings["batch_size"] * settings["patch_size"] ** 2
        result = {"logged_steps": sum(w[0] for w in windows), "last_loss": windows[-1][2] if windows else None,
                  "steady_windows": len(steady)}
        if steps and seconds:
            steps_per_second = steps / seconds
            cost = flops.gladnet(settings["patch_size"])
            tflops = steps_per_second * settings["batch_size"] * cost["training_per_image"] / 1e12
            result.update(steps_per_second=steps_per_second,
                          megapixels_per_second=steps_per_second * pixels_per_step / 1e6,
                          training_tflops=tflops)
            rates = self.rates()
            for key in ("conv", "conv_training", "matmul"):
                if rates.get(key):
                    result[f"fraction_of_{key}_rate"] = tflops / rates[key]["tflops"]
        return result

    def rates(self):
        path = self.work / "rates.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def summary(self, settings, state):
        checkpoints = run_folder.jax_checkpoint_steps(self.work / "run" / "checkpoints")
        return {
            "state": state, "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "settings": {k: v for k, v in settings.items() if k != "conv"},
            "precision": self.args.precision, "device_data": not self.args.no_device_data,
            "model_flops": flops.gladnet(settings["patch_size"]),
            "rates": self.rates(), "training": self.progress(settings),
            "newest_checkpoint": checkpoints[-1] if checkpoints else None,
            "seconds": dict(self.times, total=time.monotonic() - self.start),
            "tensorflow": [json.loads(r.read_text()) for r in self.reports if r.exists()],
        }

    def copy_weights(self):
        """The newest checkpoint's weights to OUT; returns its step (or None)."""
        folder = self.work / "run" / "checkpoints"
        steps = run_folder.jax_checkpoint_steps(folder)
        if not steps:
            return None
        self.write_out("gladnet_gpu.weights.h5", (folder / f"ckpt-{steps[-1]}.weights.h5").read_bytes())
        return steps[-1]

    def archive(self):
        """OUT/run.tar.gz: the run folder with its newest checkpoint only, and the bundle's
        manifest and recipe."""
        run = self.work / "run"
        steps = run_folder.jax_checkpoint_steps(run / "checkpoints")
        keep = {f"ckpt-{steps[-1]}.weights.h5", f"ckpt-{steps[-1]}.optimizer.npz"} if steps else set()
        partial = self.out / ".run.tar.gz.partial"
        with tarfile.open(partial, "w:gz") as tar:
            for path in sorted(run.rglob("*")):
                if path.is_file() and (path.parent.name != "checkpoints" or path.name in keep):
                    tar.add(path, arcname=f"run/{path.relative_to(run)}")
            for name in ("manifest.json", "recipe.json"):
                tar.add(self.bundle / name, arcname=f"bundle/{name}")
            mix = self.work / "data"
            for record in sorted(mix.glob("*/mix.json")):
                tar.add(record, arcname=f"data/{record.parent.name}/mix.json")
        os.replace(partial, self.out / "run.tar.gz")

    # -- the run ---------------------------------------------------------------------------

    def run(self):
        """The whole command (see the module docstring); returns its exit status (0 or 1)."""
        settings = self.settings()
        self.say(f"GLADNet training on JAX: bundle {self.bundle}, work {self.work}, out {self.out}, "
                 f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, settings {settings}")
        if self.args.fresh:
            shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True, exist_ok=True)
        site, manifest = self.install_wheels()
        env = self.environment(site)
        shared = self.lay_out_shared(manifest)
        if self.build_data(settings, env, shared):
            self.say("the data build failed; see above")
            self.write_out("throughput.json", self.summary(settings, "data build failed"))
            return 1
        code, stopped = self.train(settings, env)
        return self.finish(settings, code, stopped)

    def settings(self):
        """SMOKE or GPU, with the flags given (patch and batch size, steps, intervals, seconds)."""
        settings = dict(SMOKE if self.args.smoke else GPU)
        for key in ("patch_size", "batch_size", "steps", "checkpoint_every", "log_every", "train_seconds",
                    "budget_seconds"):
            if getattr(self.args, key) is not None:
                settings[key] = getattr(self.args, key)
        return settings

    def build_data(self, settings, env, shared):
        """Builds the bundle recipe's data while measuring the device's rates (into
        WORK/rates.json); returns the data build's exit status."""
        batch, size, channels, matmul, iterations = settings["conv"]
        rates = self.start_python("rates", [
            HERE / "conv_rate.py", "--json", self.work / "rates.json",
            "--batch", batch or settings["batch_size"], "--size", size or settings["patch_size"],
            "--channels", channels, "--matmul", matmul, "--iterations", iterations], env)
        started = time.monotonic()
        data = self.start_python("data", ["-m", "gladnet_tf.recipe", "--recipe", self.bundle / "recipe.json",
                                          "--data_root", self.work / "data", "--shared", shared], env)
        deadline = self.start + settings["budget_seconds"]
        code = self.wait("data", data, deadline - time.monotonic() - 60)
        self.times["data"] = time.monotonic() - started
        self.wait("rates", rates, 120)
        self.times["rates_and_data"] = time.monotonic() - started
        return code

    def train(self, settings, env):
        """Runs train.py until it ends or the time is up (then SIGTERM, and SIGKILL 90 s later),
        copying each new checkpoint's weights to OUT; returns (its exit status, whether it was
        stopped)."""
        started = time.monotonic()
        train = self.start_python("train", self.train_arguments(settings), env)
        stop_at = min(started + settings["train_seconds"], self.start + settings["budget_seconds"] - 30)
        stopped, last = False, None
        while train.poll() is None:
            time.sleep(1.0 if self.args.smoke else 3.0)
            step = run_folder.jax_checkpoint_steps(self.work / "run" / "checkpoints")
            if step and step[-1] != last:
                last = self.copy_weights()
                self.times["train"] = time.monotonic() - started
                self.write_out("throughput.json", self.summary(settings, "training"))
                self.say(f"checkpoint {last}: {json.dumps(self.progress(settings))}")
            if not stopped and time.monotonic() >= stop_at:
                self.say("time limit: SIGTERM (train.py saves a checkpoint and stops)")
                train.send_signal(signal.SIGTERM)
                stopped = True
                stop_at = time.monotonic() + 90
            elif stopped and time.monotonic() >= stop_at:
                self.say("train.py did not stop within 90 s of SIGTERM: SIGKILL")
                train.kill()
        code = train.wait()
        self.times["train"] = time.monotonic() - started
        self.say(f"train: exit status {code}")
        return code, stopped

    def finish(self, settings, code, stopped):
        """Writes the newest weights, run.tar.gz and throughput.json to OUT; returns 0 when a
        checkpoint was written, nothing loaded TensorFlow and train.py ended well (``code`` 0 or
        SIGTERM), else 1."""
        step = self.copy_weights()
        self.archive()
        tensorflow = [json.loads(r.read_text()) for r in self.reports if r.exists()]
        loaded = any(r["tensorflow_loaded"] for r in tensorflow)
        state = "stopped at the time limit" if stopped else ("finished" if code == 0 else f"exit status {code}")
        summary = self.summary(settings, state)
        self.write_out("throughput.json", summary)
        self.say(f"done: {state}, newest checkpoint {step}, training {json.dumps(summary['training'])}, "
                 f"rates {json.dumps({k: v.get('tflops') for k, v in summary['rates'].items() if isinstance(v, dict)})}, "
                 f"TensorFlow loaded: {loaded}")
        return 0 if step is not None and not loaded and code in (0, -signal.SIGTERM) else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT"), help="output folder (default $OUT)")
    parser.add_argument("--bundle", default=str(REPO / "runs" / "bundle"))
    parser.add_argument("--work", default="/tmp/gladnet-gpu", help="scratch folder for the data and the run")
    parser.add_argument("--smoke", action="store_true", help="tiny settings for a CPU check")
    parser.add_argument("--patch_size", type=int)
    parser.add_argument("--batch_size", type=int)
    parser.add_argument("--steps", type=int, help="stop at this step (default: at the time limit)")
    parser.add_argument("--checkpoint_every", type=int)
    parser.add_argument("--log_every", type=int)
    parser.add_argument("--train_seconds", type=float, help="wall clock for train.py (GPU default 480)")
    parser.add_argument("--budget_seconds", type=float, help="the whole command's limit (GPU default 540)")
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--learning_rate", type=float, help="default: the recipe stage's")
    parser.add_argument("--init_weights", help="default: the bundle's init.weights.h5, else the recipe stage's")
    parser.add_argument("--from_scratch", action="store_true", help="random initial weights")
    parser.add_argument("--no_device_data", action="store_true", help="numpy_data.PairStream instead")
    parser.add_argument("--fresh", action="store_true", help="delete --work first (no resume)")
    parser.add_argument("--python", help="interpreter for the steps (default this one)")
    args = parser.parse_args(argv)
    if not args.out:
        parser.error("--out is required (or set OUT)")
    if not (Path(args.bundle) / "manifest.json").exists():
        parser.error(f"{args.bundle}: no bundle (make it with python gpu/make_bundle.py)")
    return Driver(args).run()


if __name__ == "__main__":
    sys.exit(main())
