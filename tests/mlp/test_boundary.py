"""mlp/ stands alone: importing it pulls in none of the service's frameworks."""

import subprocess
import sys

BLOCKED = ("flask", "celery", "sqlalchemy", "kombu", "redis")


def test_engine_imports_without_service_frameworks():
    # A fresh interpreter with the frameworks made unimportable: any import of them fails loudly,
    # and the final check catches anything that slipped in some other way.
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {BLOCKED!r}:
            raise ImportError('mlp must not import ' + name)
sys.meta_path.insert(0, Block())
import mlp, mlp.datasets, mlp.training, mlp.checkpoint, mlp.artefact
loaded = sorted(m for m in sys.modules if m.split('.')[0] in {BLOCKED!r})
assert not loaded, loaded
print('ok')
"""
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"
