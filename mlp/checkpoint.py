"""A checkpoint: the whole training state as bytes, with the spec beside the weights.

Weights, optimizer slots, the step counter, the schedule and early-stopping state and the
finished-epoch count are saved; the random streams derive from (seed, epoch) and need nothing.
Restoring on the same data and resuming therefore ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

from .serialisation import pack, unpack
from .state import TrainingData, TrainingState

FORMAT, VERSION = "axon-checkpoint", 1


class CheckpointMismatchError(ValueError):
    """The checkpoint was written by another spec or for other data."""


def save_checkpoint(state: TrainingState) -> bytes:
    """Serialise ``state`` (copying device arrays to the host)."""
    host = state.backend.to_host
    arrays = {"params": host(state.network.params)}
    for slot, per_param in state.optimizer.state.items():
        for index, array in enumerate(per_param):
            arrays[f"optimizer.{slot}.{index}"] = host(array)
    if state.stopper.best_params is not None:
        arrays["best_params"] = host(state.stopper.best_params)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "spec": state.spec.model_dump(mode="json"),
        "epoch": state.epoch,
        "fingerprint": state.data.fingerprint,
        "optimizer_step": state.optimizer.step,
        "schedule": state.schedule.state_dict(),
        "early_stopping": state.stopper.state_dict(),
        "last_record": state.last_record,
    }
    return pack(meta, arrays)


def checkpoint_epoch(blob: bytes) -> int:
    """The number of finished epochs a checkpoint holds."""
    return unpack(blob, FORMAT, VERSION)[0]["epoch"]


def load_checkpoint(blob: bytes, data: TrainingData, backend) -> TrainingState:
    """Rebuild the state saved in ``blob`` for training on ``data``.

    Raises
    ------
    mlp.serialisation.FormatError
        ``blob`` is not a checkpoint.
    CheckpointMismatchError
        It was saved for another spec or other data.
    """
    meta, arrays = unpack(blob, FORMAT, VERSION)
    if meta["spec"] != data.spec.model_dump(mode="json"):
        raise CheckpointMismatchError("the checkpoint was saved for a different spec")
    if meta["fingerprint"] != data.fingerprint:
        raise CheckpointMismatchError("the checkpoint was saved for different data")
    state = TrainingState(data, backend)
    to_device = lambda array: backend.to_device(array, data.spec.dtype)  # noqa: E731
    state.network.params[...] = to_device(arrays["params"])
    # Only the slots this spec's options use are read: checkpoints written before slots were
    # allocated on demand also hold the unused ones (all zeros: AMSGrad's maximum without
    # amsgrad, say), which are left behind.
    for slot, per_param in state.optimizer.state.items():
        for index in range(len(per_param)):
            per_param[index][...] = to_device(arrays[f"optimizer.{slot}.{index}"])
    state.optimizer.step = meta["optimizer_step"]
    state.schedule.load_state_dict(meta["schedule"])
    best = arrays.get("best_params")
    state.stopper.load_state_dict(meta["early_stopping"], None if best is None else to_device(best))
    state.epoch = meta["epoch"]
    state.last_record = meta.get("last_record")  # Absent from checkpoints written before it.
    return state
