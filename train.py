"""Thin wrapper over gladnet_tf/commands/train.py (its docstring is this command's help)."""

from gladnet_tf.commands import train as _command  # noqa: E402  (defines the flags)

__doc__ = _command.__doc__  # absl prints the main module's docstring for --help

if __name__ == "__main__":
    _command.run()
