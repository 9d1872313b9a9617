"""Proving an import stands alone: run it in a fresh interpreter where some packages cannot load."""

from __future__ import annotations

import subprocess
import sys


def import_with_blocked(imports: str, blocked: tuple[str, ...], env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``imports`` (Python lines) with ``blocked`` top-level packages made unimportable.

    Any import of them fails loudly, and a final check of ``sys.modules`` catches anything that
    slipped in some other way; the process prints ``ok`` when the imports stand alone.
    """
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('must not import ' + name)
sys.meta_path.insert(0, Block())
{imports}
loaded = sorted(m for m in sys.modules if m.split('.')[0] in {blocked!r})
assert not loaded, loaded
print('ok')
"""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
