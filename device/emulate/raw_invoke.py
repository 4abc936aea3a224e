"""One raw int8 invoke of a .tflite model on a seeded input; the output is saved as .npy.

check-arm64.sh runs this on the x86-64 host and inside the emulated arm64 root and compares
the two outputs: XNNPACK's int8 kernels should give the same integers on both.

    python raw_invoke.py MODEL.tflite OUT.npy [xnnpack|builtin]
"""

from __future__ import annotations

import sys

import numpy as np


def main() -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model_path, output_path = sys.argv[1], sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "xnnpack"
    options = {}
    if mode == "builtin":  # LiteRT's own kernels, XNNPACK off
        options["experimental_op_resolver_type"] = (
            OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    interpreter = Interpreter(model_path=model_path, num_threads=1, **options)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    seeded = np.random.default_rng(7).integers(-128, 128, detail["shape"], dtype=np.int8)
    interpreter.set_tensor(detail["index"], seeded.astype(detail["dtype"]))
    interpreter.invoke()
    np.save(output_path, interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))


if __name__ == "__main__":
    main()
