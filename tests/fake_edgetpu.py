"""A stand-in ``libedgetpu.so.1`` built with the system C compiler, for the Edge TPU paths.

It exports libedgetpu's two plugin entry points (``tflite_plugin_create_delegate`` and
``tflite_plugin_destroy_delegate``, the ones LiteRT's ``load_delegate`` calls) and does what
the environment variable ``FAKE_EDGETPU`` says, so the real LiteRT runs against it:

* ``crash`` (the default): raise SIGSEGV while creating the delegate, as a libedgetpu
  built for another TensorFlow version has been reported to do;
* ``crash-in-interpreter``: create a delegate whose ``Prepare`` raises SIGSEGV, i.e. the
  crash happens inside ``Interpreter(..., experimental_delegates=[...])``, where LiteRT
  binds the delegate to the graph;
* ``absent``: report an error and return NULL, as libedgetpu does when no TPU is plugged in
  (LiteRT raises ValueError);
* ``ok``: a delegate that takes no node (everything runs on the CPU), so the interpreter
  builds and runs.

Each delegate creation appends a line to the file named by ``FAKE_EDGETPU_LOG``, so a test
can count how often the library was really tried.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE = r"""
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TfLiteDelegate's layout (tflite/core/c/common.h). */
typedef struct {
  void* data;
  int (*prepare)(void* context, void* delegate);
  void* copy_from_buffer_handle;
  void* copy_to_buffer_handle;
  void* free_buffer_handle;
  int64_t flags;
  void* opaque_delegate_builder;
} Delegate;

static int prepare_nothing(void* context, void* delegate) { return 0; /* kTfLiteOk */ }
static int prepare_crash(void* context, void* delegate) { raise(SIGSEGV); return 1; }

void* tflite_plugin_create_delegate(char** keys, char** values, size_t count,
                                    void (*report_error)(const char*)) {
  const char* log = getenv("FAKE_EDGETPU_LOG");
  const char* mode = getenv("FAKE_EDGETPU");
  if (log) {
    FILE* file = fopen(log, "a");
    if (file) { fputs("create\n", file); fclose(file); }
  }
  if (mode == NULL || strcmp(mode, "crash") == 0) raise(SIGSEGV);
  if (strcmp(mode, "absent") == 0) {
    if (report_error) report_error("Failed to open any Edge TPU (fake)");
    return NULL;
  }
  Delegate* delegate = calloc(1, sizeof(Delegate));
  delegate->prepare = strcmp(mode, "crash-in-interpreter") == 0 ? prepare_crash : prepare_nothing;
  return delegate;
}

void tflite_plugin_destroy_delegate(void* delegate) { free(delegate); }
"""


def build_fake_libedgetpu(folder: Path) -> Path | None:
    """Compile the stand-in into ``folder/libedgetpu.so.1``; None when there is no C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "fake_libedgetpu.c"
    source.write_text(SOURCE)
    library = folder / "libedgetpu.so.1"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return library
