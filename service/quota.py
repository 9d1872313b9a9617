"""The per-tenant storage quota: the bytes of a tenant's datasets, models and checkpoints, against
``AXON_STORAGE_QUOTA_BYTES``.

Checked where bytes are about to be added: a new dataset must fit in what is left, and a new job
is refused once nothing is left (a job adds its model and checkpoint later, in the worker, and
is not refused there: a tenant under its quota may go past it by the jobs it has running).
Exceeding it is a ``409`` problem of type ``urn:axon:problem:storage-quota``: the request is
valid, but conflicts with what the tenant stores now, and deleting datasets resolves it. (Not
a ``507``, which says the server itself is out of space; nor a ``413``, which is about the
request's own size.)
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .errors import Conflict
from .tables import Checkpoint, Dataset, Job, Tenant, TrainedModel


class StorageQuotaExceeded(Conflict):
    title, type = "Storage Quota Exceeded", "urn:axon:problem:storage-quota"


def stored_bytes(session: Session, tenant: str) -> int:
    """The bytes ``tenant`` stores: dataset blobs, model artefacts and its jobs' checkpoints.

    ``length`` of a bytea or blob reads its stored length, not its bytes, on both backends.
    """
    parts = (
        select(func.coalesce(func.sum(func.length(Dataset.data)), 0)).where(Dataset.tenant == tenant),
        select(func.coalesce(func.sum(func.length(TrainedModel.artefact)), 0)).where(TrainedModel.tenant == tenant),
        select(func.coalesce(func.sum(func.length(Checkpoint.data)), 0))
        .join(Job, Job.id == Checkpoint.job_id).where(Job.tenant == tenant),
    )
    return sum(int(session.scalar(part)) for part in parts)


def ensure_room(session: Session, tenant: str, adding_bytes: int, quota_bytes: int, adding: str) -> None:
    """Refuse (409) ``adding`` ``adding_bytes`` more to ``tenant`` when it would pass ``quota_bytes``
    (0: no quota); a job (``adding_bytes`` 0) is refused once the tenant is at its quota.

    Takes the tenant's row lock first (a no-op update, as the job slots do), so two requests of
    one tenant count one after the other and cannot both fit in the same room; the caller's
    commit releases it.
    """
    if quota_bytes == 0:
        return
    session.execute(update(Tenant).where(Tenant.name == tenant).values(name=Tenant.name),
                    execution_options={"synchronize_session": False})
    used = stored_bytes(session, tenant)
    if used + adding_bytes > quota_bytes or used >= quota_bytes:
        session.rollback()
        raise StorageQuotaExceeded(
            f"this tenant stores {used} bytes of datasets, models and checkpoints; {adding} would take "
            f"it past its quota of {quota_bytes} bytes (limit storage_quota_bytes); delete datasets to make room")
