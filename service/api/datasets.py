"""/v1/datasets: create (JSON arrays, a playground generator, or a CSV upload), list, show, delete."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from typing import BinaryIO

import numpy as np
from flask import request
from pydantic import ValidationError
from sqlalchemy import delete, select

from mlp import DataError, EncodedTargets, encode_targets, generate

from . import resource_blueprint
from ..auth import current_tenant
from ..database import get_session
from ..errors import Conflict, InvalidRequest, NotFound, invalid_names, problem_docs
from ..http import CSV, JSON, MULTIPART, PARQUET, body_docs, current_settings, json_response, negotiate, read_json, validate_json
from ..json_upload import ArraysBody, read_arrays_body
from ..job_states import ACTIVE_STATUSES
from ..tables import Dataset, Job
from ..tabular.task_rule import EXPLICIT, numbers_task
from ..paging import newest_first
from ..quota import ensure_room
from ..schemas import (
    DatasetFromArrays, DatasetFromGenerator, DatasetListQuery, DatasetOut, DatasetPage, DatasetPath,
    DatasetUpload, UploadOptions,
)
from ..storage import ClassLabels, encode_arrays, encode_labels

blueprint = resource_blueprint("datasets", __name__, "/v1/datasets")

# Where each kind of dataset error points, per way of sending a dataset.
JSON_PLACES = {"features": {"pointer": "/features"}, "targets": {"pointer": "/targets"}}
GENERATOR_PLACES = {"features": {"pointer": "/generator"}, "targets": {"pointer": "/generator"}}
SPOOL_BYTES = 1 << 20  # A raw upload body past this is spooled to a temporary file, as a multipart file is.


def _raw_upload_parameters() -> list[dict]:
    """The OpenAPI query parameters of a raw ``text/csv`` or Parquet body: the upload's options."""
    properties = UploadOptions.model_json_schema()["properties"]

    def query_schema(name: str) -> dict:  # A query parameter is absent rather than null.
        found = properties[name]
        typed = next((branch for branch in found.get("anyOf", [found]) if branch.get("type") != "null"), found)
        return {key: value for key, value in typed.items() if key not in ("title", "default", "description")}

    return [{"name": name, "in": "query", "required": False, "schema": query_schema(name),
             "description": f"A raw text/csv or Parquet body only{' (required there)' if field.is_required() else ''}: "
                            f"{field.description}"}
            for name, field in UploadOptions.model_fields.items()]


@blueprint.post("", responses={201: DatasetOut, **problem_docs(400, 409, 413, 415, 422, 507)},
                openapi_extensions={**body_docs(blueprint, {JSON: [DatasetFromArrays, DatasetFromGenerator],
                                                            MULTIPART: DatasetUpload, CSV: {"type": "string"},
                                                            PARQUET: {"type": "string", "format": "binary"}},
                                                {"generator": {"kind": "spiral", "n_samples": 400, "noise": 0.1}}),
                                    "parameters": _raw_upload_parameters()})
def create_dataset():
    """Create a dataset from JSON arrays, a playground generator, or a table upload: CSV (header row
    required) or Parquet, as a multipart form (the file in part `file`, the options in form fields)
    or as the raw body (`Content-Type: text/csv` or `application/vnd.apache.parquet`, the options
    as query parameters, named in problems as the form's fields).

    Rules the schema cannot hold, each a 422 naming the place: JSON rows of different lengths
    (`/features/<i>`); not one target per row (`/targets`); targets mixing numbers and strings, fewer
    than two classes, more than max_classes, or string targets with `task: regression` (`/targets`);
    a generator's features over max_features (`/generator/features`). An upload (form field `file`,
    CSV with a header row or Parquet; its columns typed as the README's Tabular data section says,
    the schema in the answer's `columns` and `target`): an empty file, a header without data rows,
    no column named by `target` (field `target`), a line with another number of cells than the
    header, a column of numbers with cells that are not finite numbers, a row without a target,
    no usable feature column, more than max_rows rows or max_features columns, text that is not
    UTF-8 (each naming field `file`, and its `row` and `column` where there is one); an override in
    `columns` naming no column or no kind, or a cell that does not fit the kind it names (field
    `columns` or `file`). Every problem of an upload comes in one answer.
    """
    dataset = create_from_request()
    return json_response(DatasetOut.model_validate(dataset, from_attributes=True), 201,
                         {"Location": f"/v1/datasets/{dataset.id}"})


@blueprint.get("", responses={200: DatasetPage, **problem_docs(422)})
def list_datasets(query: DatasetListQuery):
    """List datasets, newest first, a page at a time."""
    own = select(Dataset).where(Dataset.tenant == current_tenant())
    rows, following, next_cursor = newest_first(get_session(), Dataset, own, query.cursor,
                                   current_settings().page_size, "/v1/datasets", {})
    items = [DatasetOut.model_validate(row, from_attributes=True) for row in rows]
    return json_response(DatasetPage(items=items, next=following, next_cursor=next_cursor))


@blueprint.get("/<dataset_id>", responses={200: DatasetOut, **problem_docs(404)})
def get_dataset(path: DatasetPath):
    """Show one dataset."""
    return json_response(DatasetOut.model_validate(find_dataset(path.dataset_id), from_attributes=True))


@blueprint.delete("/<dataset_id>", responses={204: None, **problem_docs(404, 409)})
def delete_dataset(path: DatasetPath):
    """Delete a dataset; 409 while a queued, running or cancelling job uses it (finished jobs keep their models)."""
    remove_dataset(path.dataset_id)
    return "", 204


def find_dataset(dataset_id: str) -> Dataset:
    """The current tenant's dataset ``dataset_id``; another tenant's is as unknown as a missing one."""
    dataset = get_session().get(Dataset, dataset_id)
    if dataset is None or dataset.tenant != current_tenant():
        raise NotFound("dataset", dataset_id)
    return dataset


def remove_dataset(dataset_id: str) -> None:
    """Delete in one statement that re-checks for active jobs, so a job submitted meanwhile wins."""
    session = get_session()
    in_use = select(Job.id).where(Job.dataset_id == dataset_id, Job.status.in_(ACTIVE_STATUSES)).exists()
    result = session.execute(delete(Dataset).where(Dataset.id == dataset_id, Dataset.tenant == current_tenant(),
                                                   ~in_use),
                             execution_options={"synchronize_session": False})
    session.commit()
    if result.rowcount == 0:
        find_dataset(dataset_id)
        raise Conflict("the dataset is used by a queued, running or cancelling job; cancel it or wait")


def create_from_request() -> Dataset:
    """Read whichever form the request uses (JSON arrays, a generator, a multipart upload, a raw
    table body) and store the dataset."""
    media_type = negotiate(JSON, MULTIPART, CSV, PARQUET)
    if media_type in (CSV, PARQUET):
        return create_from_body()
    misplaced = [name for name in UploadOptions.model_fields if name in request.args]
    if misplaced:  # Left unread, they would seem to say something the dataset does not do.
        raise InvalidRequest([{"parameter": name, "detail": f"'{name}' goes with a raw text/csv or Parquet body "
                               f"only, not with this {media_type} body"} for name in misplaced])
    if media_type == MULTIPART:
        return create_from_upload()
    settings = current_settings()
    body = _arrays_at_once(settings.max_rows, settings.max_features)
    if body is None:
        document = read_json()
        if isinstance(document, dict) and "generator" in document:
            return create_from_generator(validate_json(DatasetFromGenerator, document))
        body = validate_json(DatasetFromArrays, document, context={"max_rows": settings.max_rows})
        del document
    features, targets = arrays_from_json(body, settings.max_features, settings.max_label_length)
    name, task = body.name or "dataset", body.task
    del body  # Python's floats cost some 6 times the body; only the arrays go on.
    dataset = new_dataset(name, features, targets, task, None, JSON_PLACES)
    del features, targets  # The blob holds the data now: the arrays need not outlive the insert.
    return store_dataset(dataset)


def _arrays_at_once(max_rows: int, max_features: int) -> ArraysBody | DatasetFromArrays | None:
    """The body as arrays, read a chunk of rows at a time or else in one pass of pydantic's
    parser; None for anything else.

    The usual path builds the document (``json.loads``) as well, for the pointers of its errors
    and to tell a generator body apart: two trees of Python objects. A body these passes refuse
    takes that path, so every refusal is the same as ever.
    """
    raw = request.get_data(cache=True)  # Werkzeug answers 413 here above MAX_CONTENT_LENGTH.
    chunked = read_arrays_body(raw, max_rows, max_features)
    if chunked is not None:
        # Nothing reads a body again once it is arrays, so the rest of the upload (the blob, its
        # insert) runs without it: Werkzeug's cache of get_data(cache=True) lets it go.
        request._cached_data = None
        return chunked
    try:
        return DatasetFromArrays.model_validate_json(raw, strict=True, context={"max_rows": max_rows})
    except ValidationError:
        return None


def create_from_generator(body: DatasetFromGenerator) -> Dataset:
    settings, spec = current_settings(), body.generator
    if spec.n_samples > settings.max_rows:
        raise InvalidRequest([{"pointer": "/generator/n_samples",
                               "detail": f"at most {settings.max_rows} rows (limit max_rows)"}])
    if len(spec.features) > settings.max_features:
        raise InvalidRequest([{"pointer": "/generator/features",
                               "detail": f"at most {settings.max_features} features (limit max_features)"}])
    generated = generate(spec)
    return store_dataset(new_dataset(body.name or spec.kind, generated.features, generated.targets, generated.task,
                                     list(generated.feature_names), GENERATOR_PLACES,
                                     task_reason=f"the {spec.kind} generator's task"))


def create_from_upload() -> Dataset:
    """A multipart upload: the file in part ``file``, the options in form fields."""
    # A file part (curl -F file=@data.csv) or, failing that, a text field (curl -F "file=<data.csv").
    attached = request.files.get("file") or request.form.get("file")
    try:
        upload = DatasetUpload.model_validate({**request.form.to_dict(), "file": attached})
    except ValidationError as error:
        raise invalid_names(error, "field") from None
    if upload.file is None:
        raise InvalidRequest([{"field": "file", "detail": "attach the CSV or Parquet file as a form part named 'file'"}])
    if isinstance(upload.file, str):
        return create_from_table(upload, io.BytesIO(upload.file.encode()), None)
    # The part's stream itself: Werkzeug spooled a large one to disk, and it is read from there.
    return create_from_table(upload, upload.file.stream, upload.file.filename)


def create_from_body() -> Dataset:
    """A raw ``text/csv`` or Parquet body, the options in query parameters (named in problems as
    the form's fields are)."""
    try:
        options = UploadOptions.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise invalid_names(error, "field") from None
    # Spooled as Werkzeug spools a multipart file: the reader seeks, and reads some columns twice.
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
        shutil.copyfileobj(request.stream, body, SPOOL_BYTES)  # Werkzeug answers 413 past max_body_bytes.
        return create_from_table(options, body, None)


def create_from_table(upload: UploadOptions, source: BinaryIO, filename: str | None) -> Dataset:
    """Read, type and store an uploaded table: CSV or Parquet bytes in ``source``."""
    # Imported here: pyarrow adds some 68 MiB to a process's memory, and only processes that take
    # an upload need it (not the workers, which build the app too).
    from ..table_upload import read_upload, release_text
    from ..tabular import Problems, describe_table

    settings = current_settings()
    overrides = _column_overrides(upload.columns)
    # The target and the overridden columns are typed from their text by the rules alone.
    table, lines = read_upload(source, settings.max_rows, settings.max_features,
                               text_columns={upload.target, *overrides})
    if upload.target not in table.column_names:
        raise InvalidRequest([{"field": "target", "detail": f"no column '{upload.target}' in the header "
                               f"({', '.join(table.column_names)})"}])
    try:
        described = describe_table(table, upload.target, upload.task, overrides, lines, settings.max_label_length)
    except Problems as found:
        raise InvalidRequest(found.problems) from None
    finally:
        del table
        release_text()
    places = {"features": {"field": "file"}, "targets": {"field": "file", "column": upload.target}}
    name = (upload.name or filename or "dataset")[:200]
    dataset = new_dataset(name, described.coded, described.target.values, described.target.task,
                          described.feature_names, places, task_reason=described.target.reason)
    dataset.table_schema = described.schema
    del described  # The blob holds the data now: the arrays need not outlive the insert, which copies it again.
    return store_dataset(dataset)


def _column_overrides(text: str | None) -> dict[str, str]:
    """The ``columns`` form field: a JSON object of column name to kind (checked against the header later)."""
    if text is None:
        return {}
    try:
        overrides = json.loads(text)
    except ValueError as error:
        raise InvalidRequest([{"field": "columns", "detail": f"not JSON: {error}"}]) from None
    if not isinstance(overrides, dict) or not all(isinstance(kind, str) for kind in overrides.values()):
        raise InvalidRequest([{"field": "columns", "detail": 'a JSON object of column name to kind, e.g. '
                               '{"year": "categorical", "name": "ignore"}'}])
    return overrides


def arrays_from_json(body: DatasetFromArrays | ArraysBody, max_features: int,
                     max_label_length: int) -> tuple[np.ndarray, np.ndarray | ClassLabels]:
    """(features (n_samples, n_features) float64, targets) of a JSON body, whose rows pydantic has
    checked are lists of finite numbers (or already an array); targets are (n_samples,) numbers
    or class labels."""
    features, targets = body.features, body.targets
    n_features = len(features[0])
    if not 1 <= n_features <= max_features:
        raise InvalidRequest([{"pointer": "/features/0", "detail": f"rows need 1 to {max_features} "
                               f"numbers (limit max_features), got {n_features}"}])
    for index, row in enumerate(features):
        if len(row) != n_features:
            raise InvalidRequest([{"pointer": f"/features/{index}",
                                   "detail": f"has {len(row)} values, but row 0 has {n_features}"}])
    if len(targets) != len(features):
        raise InvalidRequest([{"pointer": "/targets", "detail": f"needs one target per row of "
                               f"features ({len(features)}), got {len(targets)}"}])
    labels_are_text = isinstance(targets[0], str)
    for index, target in enumerate(targets):
        if isinstance(target, str) != labels_are_text:
            raise InvalidRequest([{"pointer": f"/targets/{index}",
                                   "detail": "targets must be all numbers or all strings"}])
        if labels_are_text and len(target) > max_label_length:
            raise InvalidRequest([{"pointer": f"/targets/{index}", "detail": f"a label of {len(target)} "
                                   f"characters; at most {max_label_length} (limit max_label_length)"}])
    if labels_are_text:
        target_array = encode_labels(targets)
    else:
        # JSON keeps 1 and 1.0 apart: integers are labels, any fraction makes the column values.
        is_float = any(isinstance(target, float) for target in targets)
        target_array = np.asarray(targets, dtype=np.float64 if is_float else np.int64)
    return np.asarray(features, dtype=np.float64), target_array


def new_dataset(name: str, features: np.ndarray, targets: np.ndarray | ClassLabels, task: str | None,
                feature_names: list[str] | None, places: dict[str, dict], task_reason: str | None = None) -> Dataset:
    """Encode a dataset into a row to store; ``targets`` are numbers (an array) or string class labels.

    Classification targets are stored as int64 indices into the sorted ``classes``, regression
    targets as float64 values. ``places`` says where to point errors about features or targets.
    ``task_reason`` says why ``task`` is what it is where the caller chose it (an upload's target
    rules, a generator); otherwise the reason is the JSON targets' rule's.
    """
    settings = current_settings()
    try:
        encoded, rule_reason = _encode_targets(targets, task)
    except DataError as error:
        raise InvalidRequest([{**places[error.field], "detail": error.message}]) from None
    task = encoded.task
    if encoded.classes is not None and len(encoded.classes) > settings.max_classes:
        raise InvalidRequest([{**places["targets"], "detail": f"at most {settings.max_classes} classes "
                               f"(limit max_classes), got {len(encoded.classes)}"}])
    stored_targets = encoded.values if encoded.classes is not None else np.asarray(targets, np.float64)
    blob, checksum = encode_arrays(features, stored_targets)
    return Dataset(tenant=current_tenant(), name=name, task=task, n_samples=len(features),
                   n_features=features.shape[1], classes=encoded.classes, feature_names=feature_names,
                   task_reason=task_reason or rule_reason, dtype="float64", checksum=checksum, data=blob)


def store_dataset(dataset: Dataset) -> Dataset:
    """Store ``dataset`` if its tenant's storage quota has room for it (409 otherwise)."""
    ensure_room(get_session(), dataset.tenant, len(dataset.data), current_settings().storage_quota_bytes,
                f"a dataset of {len(dataset.data)} bytes")
    session = get_session()
    session.add(dataset)
    session.commit()
    return dataset


def _encode_targets(targets: np.ndarray | ClassLabels, task: str | None) -> tuple[EncodedTargets, str]:
    """The engine's encoding of ``targets`` and why the task is what it is; string labels arrive
    as class indices already.

    Numbers follow the uploads' rule (:mod:`service.tabular.task_rule`); the engine checks the
    indices (two classes at least) as it would the labels, and its classes 0..k-1 then name the
    labels they stand for.
    """
    if not isinstance(targets, ClassLabels):
        task, reason = numbers_task(targets, targets.dtype.kind in "iub", task)
        return encode_targets(targets, task), reason
    if task == "regression":
        raise DataError("targets", "regression targets must be numbers")
    encoded = encode_targets(targets.indices, "classification")
    reason = EXPLICIT if task else "the targets are strings: class labels"
    return EncodedTargets("classification", encoded.values, [targets.classes[index] for index in encoded.classes]), reason
