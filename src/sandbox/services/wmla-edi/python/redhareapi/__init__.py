"""Sandbox stand-in for WMLA EDI's kernel API (`redhareapi`).

A deployed kernel file subclasses `Kernel` and calls `run()` under `if __name__ == '__main__'`.
`run()` calls `on_kernel_start(kernel_context)` once, then `on_task_invoke(task_context)` for each
inference request, and `on_kernel_shutdown()` when the model stops.

The sandbox (Node) drives the kernel over stdin/stdout, one JSON message per line:

  sandbox -> kernel (stdin):  {"type": "task", "id": "<task id>", "input": "<request body>"}
                              {"type": "shutdown"}
  kernel -> sandbox (stdout): SENTINEL {"type": "ready", "pid": <pid>}
                              SENTINEL {"type": "fatal", "error": "<Type: message>", "traceback": "..."}
                              SENTINEL {"type": "result", "id": "...", "output": "<string>"}
                              SENTINEL {"type": "result", "id": "...", "error": "<Type: message>", "traceback": "..."}
                              SENTINEL {"type": "result", "id": "...", "no_output": true}

Protocol lines start with SENTINEL so that anything else a kernel prints is taken as its log. Once
`run()` starts, the kernel's own stdout is redirected to stderr (the sandbox writes both to the
kernel's log file). The kernel exits when stdin closes, so it never outlives its sandbox.
"""

import io
import json
import os
import sys
import traceback

__all__ = ["Kernel", "KernelContext", "TaskContext", "SENTINEL"]

SENTINEL = "\x1eREDHARE "


def _describe(exc):
    return "%s: %s" % (type(exc).__name__, exc)


class KernelContext(object):
    """What `on_kernel_start` receives: the model's description and the kernel's identity."""

    def __init__(self, description, kernel_id):
        self._description = description
        self._kernel_id = kernel_id

    def get_model_description(self):
        """The deployed model (model.json fields plus model_path) as a JSON string."""
        return json.dumps(self._description)

    def get_model_name(self):
        return self._description.get("name", "")

    def get_kernel_id(self):
        return self._kernel_id


class TaskContext(object):
    """One task of a request. The sandbox sends one task per request, so `next()` returns None."""

    def __init__(self, tasks, index=0):
        self._tasks = tasks
        self._index = index

    def get_task_id(self):
        return self._tasks[self._index]["id"]

    def get_input_data(self):
        """The request body, as a string."""
        return self._tasks[self._index]["input"]

    def set_output_data(self, data):
        """The response body: a string (bytes are decoded as UTF-8)."""
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("utf-8", errors="replace")
        elif data is not None and not isinstance(data, str):
            data = str(data)
        self._tasks[self._index]["output"] = data

    def next(self):
        """The next task of the batch, or None when there is none."""
        if self._index + 1 < len(self._tasks):
            return TaskContext(self._tasks, self._index + 1)
        return None


class Kernel(object):
    """Base class of an EDI kernel: override the three `on_*` hooks, then call `run()`."""

    def on_kernel_start(self, kernel_context):
        pass

    def on_task_invoke(self, task_context):
        pass

    def on_kernel_shutdown(self):
        pass

    @staticmethod
    def _log(level, message):
        sys.stderr.write("%s: %s\n" % (level, message))
        sys.stderr.flush()

    @staticmethod
    def log_debug(message):
        Kernel._log("DEBUG", message)

    @staticmethod
    def log_info(message):
        Kernel._log("INFO", message)

    @staticmethod
    def log_warn(message):
        Kernel._log("WARN", message)

    @staticmethod
    def log_error(message):
        Kernel._log("ERROR", message)

    def run(self):
        """Serves tasks from the sandbox until it asks for a shutdown or closes stdin."""
        sys.stdout.flush()
        protocol = io.open(os.dup(1), "w", encoding="utf-8", newline="\n")
        os.dup2(2, 1)  # from here on, print() goes to stderr, not into the protocol
        requests = io.open(sys.stdin.fileno(), "r", encoding="utf-8", newline="\n", closefd=False)

        def send(message):
            protocol.write(SENTINEL + json.dumps(message) + "\n")
            protocol.flush()

        description = json.loads(os.environ.get("REDHARE_MODEL_DESCRIPTION", "{}"))
        kernel_id = os.environ.get("REDHARE_KERNEL_ID", "")
        try:
            self.on_kernel_start(KernelContext(description, kernel_id))
        except BaseException as exc:  # noqa: B902 - any failure to start is reported, then the kernel exits
            send({"type": "fatal", "error": _describe(exc), "traceback": traceback.format_exc()})
            sys.exit(1)
        send({"type": "ready", "pid": os.getpid()})

        for line in requests:
            if not line.strip():
                continue
            message = json.loads(line)
            if message.get("type") == "shutdown":
                break
            if message.get("type") != "task":
                continue
            task_id = message.get("id", "")
            os.environ["TASK_JOB_ID"] = task_id
            tasks = [{"id": task_id, "input": message.get("input", ""), "output": None}]
            try:
                self.on_task_invoke(TaskContext(tasks))
            except Exception as exc:
                traceback.print_exc()
                send({"type": "result", "id": task_id, "error": _describe(exc), "traceback": traceback.format_exc()})
                continue
            output = tasks[0]["output"]
            if output is None:
                send({"type": "result", "id": task_id, "no_output": True})
            else:
                send({"type": "result", "id": task_id, "output": output})

        try:
            self.on_kernel_shutdown()
        except Exception:
            traceback.print_exc()
        protocol.close()
