"""Average a run's checkpoints into a new run folder that `edgecolor export` takes.

usage: python tools/average_checkpoints.py RUN_DIR STEP STEP [STEP ...] --out NEW_RUN_DIR
(edgecolor/training/averaging.py says why and how).
"""

from __future__ import annotations

import argparse
import sys

from edgecolor.errors import UsageError
from edgecolor.training.averaging import average_checkpoints


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="training run folder")
    parser.add_argument("steps", nargs="+", type=int, help="steps of its kept checkpoints")
    parser.add_argument("--out", required=True, help="new run folder (must not exist)")
    args = parser.parse_args()
    try:
        path = average_checkpoints(args.run_dir, args.steps, args.out)
    except UsageError as error:
        print(f"average_checkpoints: error: {error}", file=sys.stderr)
        return 2
    print(f"{len(set(args.steps))} checkpoints averaged -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
