"""The command lines (``gladnet-enhance``, ``gladnet-train``); ``test.py`` and ``train.py`` in
the checkout are thin wrappers over the same ``run``. Each module defines its absl flags when
imported, so import one only to run it."""
