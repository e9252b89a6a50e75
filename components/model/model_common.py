"""What the three programs of the model build step share (prepare_model.py on the deploy host, export_onnx.py in
the export Python, check_onnx.py in the check Python): one log format and the errors that carry their own fix.
Standard library only, like its callers' host side; each finds it next to itself (a script's directory is on
sys.path)."""
from __future__ import annotations

import json
import sys


def log(msg: str) -> None:
    print(f"[ml-lambda model] {msg}", file=sys.stderr, flush=True)


class UserError(Exception):
    """A mistake in a setting: which one, its value, the limit it breaks and the fix (the component's MlLambdaError)."""

    def __init__(self, setting: str, value: object, limit: str, fix: str):
        super().__init__(limit)
        self.setting, self.value, self.limit, self.fix = setting, value, limit, fix


class StepError(Exception):
    """A helper program's refusal: what went wrong and the fix, printed as its JSON answer."""

    def __init__(self, error: str, fix: str):
        super().__init__(error)
        self.error, self.fix = error, fix


def answer(work) -> int:
    """Runs a helper program's work and prints its one JSON answer, the line prepare_model.run_child reads:
    {"ok": true, ...what work returned}, or {"ok": false, "error", "fix"} and exit 2 on a StepError."""
    try:
        out = work()
    except StepError as e:
        log(f"error: {e.error}")
        print(json.dumps({"ok": False, "error": e.error, "fix": e.fix}))
        return 2
    print(json.dumps({"ok": True, **out}))
    return 0
