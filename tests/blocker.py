"""Helpers for tests that run code in a fresh interpreter where some packages cannot be imported."""

import subprocess
import sys
import textwrap

BLOCK_TEMPLATE = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked in this test")
sys.meta_path.insert(0, _Blocker())
"""


def run_without(blocked, code, *, stdin=None):
    """Run ``code`` in a new interpreter in which importing any of ``blocked`` fails."""
    source = BLOCK_TEMPLATE.format(blocked=set(blocked)) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", source], input=stdin, capture_output=True, text=True)
