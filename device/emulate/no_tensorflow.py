"""Run ``edgecolor ARGS...`` in this process; fail if anything tried to import TensorFlow.

check-arm64.sh runs the device commands through this on the emulated Pi: the device runtime
must never need TensorFlow (nor Keras), and a Pi's venv must not have it installed. A finder
placed first on ``sys.meta_path`` records every attempt to import one of them, so an import
guarded by ``try: ... except ImportError`` is caught too.

    python no_tensorflow.py colorize photo.jpg -o out/

Exit status: edgecolor's own, or 1 when TensorFlow is installed or an import of it was tried.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

# Top-level names of the training stack (TF_USE_LEGACY_KERAS makes tf_keras the Keras).
TRAINING_PACKAGES = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")


class ImportRecorder(importlib.abc.MetaPathFinder):
    """Notes every import of a training package; finds nothing itself."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in TRAINING_PACKAGES:
            self.attempts.append(name)
        return None


def main() -> int:
    installed = [name for name in TRAINING_PACKAGES if importlib.util.find_spec(name)]
    recorder = ImportRecorder()
    sys.meta_path.insert(0, recorder)
    from edgecolor.cli import main as edgecolor_main

    status = edgecolor_main(sys.argv[1:])
    if installed:
        print(f"FAIL: installed in this Python: {', '.join(installed)}", file=sys.stderr)
        return 1
    if recorder.attempts:
        print(f"FAIL: edgecolor tried to import {sorted(set(recorder.attempts))}", file=sys.stderr)
        return 1
    print(f"PASS: no TensorFlow (none installed, no import tried); edgecolor exit {status}")
    return status


if __name__ == "__main__":
    sys.exit(main())
