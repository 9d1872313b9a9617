"""mlp/ stands alone: importing it pulls in none of the service's frameworks."""

from tests.support.isolation import import_with_blocked

BLOCKED = ("flask", "celery", "sqlalchemy", "kombu", "redis")


def test_engine_imports_without_service_frameworks():
    completed = import_with_blocked("import mlp, mlp.playground_data, mlp.training, mlp.checkpoint, mlp.artefact, mlp.activity", BLOCKED)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"
