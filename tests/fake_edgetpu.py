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
  builds and runs;
* ``hang``: never return from creating the delegate, as a locked-up USB Accelerator keeps
  libedgetpu waiting for the device;
* ``flaky``: a delegate that takes the whole graph (as the Edge TPU does with a fully
  compiled model) into one kernel whose invoke can fail: it then reports an error through
  the context and returns kTfLiteError, which LiteRT's ``invoke()`` raises as
  RuntimeError, as when the USB accelerator is pulled out or resets mid-run. The file
  named by ``FAKE_EDGETPU_FAIL_FILE`` says when: ``*`` fails every invoke while the file
  is there (a dead accelerator); otherwise each invoke, in any process, takes the file's
  first character and fails on ``F`` (``.F.F`` = the probe's invoke works, the next fails,
  ...); no file or an empty one: it works. While it works the kernel leaves the output
  tensor as it is, which is enough to run a batch.

Each delegate creation appends a line to the file named by ``FAKE_EDGETPU_LOG`` (and each
kernel invoke an ``invoke`` or ``fail`` line), so a test can count how often the library was
really tried.

The structures are the prefix of LiteRT's own (tflite/core/c/common.h) that a delegate
uses; ``TfLiteRegistration`` is passed by value, so it carries zero padding for the fields
newer runtimes append.
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
#include <unistd.h>

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

typedef struct { int size; int data[]; } IntArray;

struct Context;

/* TfLiteRegistration; the padding stands for async_kernel, inplace_operator and whatever
   a newer runtime appends (zero: "not supported"). */
typedef struct {
  void* (*init)(void* context, const char* buffer, size_t length);
  void (*free)(void* context, void* buffer);
  int (*prepare)(void* context, void* node);
  int (*invoke)(struct Context* context, void* node);
  void* profiling_string;
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* registration_external;
  char padding[128];
} Registration;

/* The start of TfLiteContext: the members a delegate's Prepare calls. */
typedef struct Context {
  size_t tensors_size;
  int (*GetExecutionPlan)(struct Context* context, IntArray** execution_plan);
  void* tensors;
  void* impl_;
  void* ResizeTensor;
  void (*ReportError)(struct Context* context, const char* format, ...);
  void* AddTensors;
  void* GetNodeAndRegistration;
  int (*ReplaceNodeSubsetsWithDelegateKernels)(struct Context* context, Registration registration,
                                               const IntArray* nodes, void* delegate);
} Context;

static void note(const char* line) {
  const char* log = getenv("FAKE_EDGETPU_LOG");
  if (log) {
    FILE* file = fopen(log, "a");
    if (file) { fputs(line, file); fclose(file); }
  }
}

static void* kernel_init(void* context, const char* buffer, size_t length) { return NULL; }
static void kernel_free(void* context, void* buffer) {}
static int kernel_prepare(void* context, void* node) { return 0; }
static int should_fail(void) {
  const char* path = getenv("FAKE_EDGETPU_FAIL_FILE");
  FILE* file = path ? fopen(path, "r") : NULL;
  if (file == NULL) return 0;
  char plan[256];
  size_t length = fread(plan, 1, sizeof plan - 1, file);
  fclose(file);
  if (length == 0) return 0;
  if (plan[0] == '*') return 1;
  file = fopen(path, "w");
  if (file) { fwrite(plan + 1, 1, length - 1, file); fclose(file); }
  return plan[0] == 'F';
}

static int kernel_invoke(Context* context, void* node) {
  if (should_fail()) {
    note("fail\n");
    context->ReportError(context, "Failed to execute request on the Edge TPU: USB transfer error (fake)");
    return 1; /* kTfLiteError */
  }
  note("invoke\n");
  return 0;
}

static int prepare_nothing(void* context, void* delegate) { return 0; /* kTfLiteOk */ }
static int prepare_crash(void* context, void* delegate) { raise(SIGSEGV); return 1; }
static int prepare_whole_graph(void* raw_context, void* delegate) {
  Context* context = raw_context;
  IntArray* plan = NULL;
  if (context->GetExecutionPlan(context, &plan) != 0) return 1;
  Registration kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.init = kernel_init;
  kernel.free = kernel_free;
  kernel.prepare = kernel_prepare;
  kernel.invoke = kernel_invoke;
  kernel.builtin_code = 32; /* kTfLiteBuiltinCustom */
  kernel.custom_name = "FakeEdgeTpu";
  kernel.version = 1;
  return context->ReplaceNodeSubsetsWithDelegateKernels(context, kernel, plan, delegate);
}

void* tflite_plugin_create_delegate(char** keys, char** values, size_t count,
                                    void (*report_error)(const char*)) {
  const char* mode = getenv("FAKE_EDGETPU");
  note("create\n");
  if (mode == NULL || strcmp(mode, "crash") == 0) raise(SIGSEGV);
  if (strcmp(mode, "hang") == 0) {
    for (;;) sleep(1);
  }
  if (strcmp(mode, "absent") == 0) {
    if (report_error) report_error("Failed to open any Edge TPU (fake)");
    return NULL;
  }
  Delegate* delegate = calloc(1, sizeof(Delegate));
  if (strcmp(mode, "crash-in-interpreter") == 0) delegate->prepare = prepare_crash;
  else if (strcmp(mode, "flaky") == 0) delegate->prepare = prepare_whole_graph;
  else delegate->prepare = prepare_nothing;
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
