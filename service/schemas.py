"""What the API reads and writes, as pydantic models; the OpenAPI document is generated from them.

Request models forbid unknown fields, NaN and infinities. Limits that come from settings reach
the validators through pydantic's validation context, as the engine's spec limits do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from flask_openapi3.models.file import FileStorage
from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, SerializeAsAny, SkipValidation, StrictBool, StrictFloat, StrictInt,
    StrictStr, ValidationInfo, field_validator, model_validator,
)

from mlp import Footprint, GeneratorSpec, NetworkSpec, Task

from .evaluation_schemas import Evaluation
from .job_states import JOB_STATUSES
from .paging import CURSOR_PATTERN

INT64_RANGE = range(-(2**63), 2**63)
# Epochs are INTEGER columns; a bigger number in a query would overflow the database driver.
MAX_EPOCH = 2**31 - 1
JobStatus = Literal[JOB_STATUSES]
Label = Union[StrictBool, StrictInt, StrictStr]
# The stored spec (a dict) is documented as the engine's spec but not validated again on the way
# out, so a spec accepted under limits that have since been lowered still shows.
StoredSpec = SkipValidation[SerializeAsAny[NetworkSpec]]


def _number_or_string(value: Any) -> Any:
    # Without this, a bad entry gets one error per union member: "not an int", "not a float", ...
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be a number or a string")
    if isinstance(value, int) and value not in INT64_RANGE:
        raise ValueError("integer labels must fit in 64 bits")
    return value


Target = Annotated[StrictInt | StrictFloat | StrictStr, BeforeValidator(_number_or_string)]
Row = list[StrictFloat]


def _within_row_limit(rows: Any, info: ValidationInfo, limit_name: str) -> Any:
    # Before the rows are validated, so an oversized list is refused without reading every number.
    limit = (info.context or {}).get(limit_name)
    if limit is not None and isinstance(rows, list) and len(rows) > limit:
        raise ValueError(f"at most {limit} rows (limit {limit_name}), got {len(rows)}")
    return rows


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# ---- datasets ---------------------------------------------------------------------------------


class DatasetFromArrays(RequestModel):
    """A dataset given as numbers: one row of features per target."""

    name: str | None = Field(None, min_length=1, max_length=200)
    features: list[Row] = Field(..., min_length=1, description="(n_samples, n_features) numbers.")
    targets: list[Target] = Field(..., min_length=1, description="n_samples class labels (integers or "
                                  "strings) or regression values (numbers).")
    task: Task | None = Field(None, description="Default: inferred from the targets by the rule in the README "
                              "(strings and all-0/1 numbers are labels; many distinct integers, and numbers "
                              "written with a fraction, are values; see the answer's `task_reason`).")

    @field_validator("features", mode="before")
    @classmethod
    def _row_limit(cls, rows: Any, info: ValidationInfo) -> Any:
        return _within_row_limit(rows, info, "max_rows")


class DatasetFromGenerator(RequestModel):
    """A dataset drawn from one of the engine's playground generators."""

    name: str | None = Field(None, min_length=1, max_length=200)
    generator: GeneratorSpec


class UploadOptions(BaseModel):
    """What an upload says besides the file: form fields beside a multipart file, or query
    parameters of a raw ``text/csv`` or Parquet body."""

    target: str = Field(..., min_length=1, description="Header of the target column.")
    name: str | None = Field(None, min_length=1, max_length=200, description="Default: the file name.")
    task: Task | None = Field(None, description="Default: inferred from the target column (see `task_reason`).")
    columns: str | None = Field(None, description="JSON object overriding column kinds, e.g. "
                                '`{"year": "categorical", "name": "ignore"}`; kinds: numeric, boolean, '
                                "categorical, datetime, text (excluded), ignore.")


class DatasetUpload(UploadOptions):
    """A CSV file with a header row, or a Parquet file; ``target`` names the target column, every
    other column is a feature, typed by the rules in the README (Tabular data)."""

    file: FileStorage


ColumnKind = Literal["numeric", "boolean", "categorical", "datetime", "text", "identifier", "constant", "ignored"]


class ColumnOut(BaseModel):
    """One column of an uploaded table, as Axon read it."""

    name: str
    kind: ColumnKind = Field(..., description="text, identifier, constant and ignored columns are not used.")
    missing: int = Field(..., description="Cells missing (empty, NA, nan, null, ...).")
    distinct: int = Field(..., description="Distinct values among the cells not missing.")
    reason: str = Field(..., description="Why the column has this kind.")
    categories: list[str] | None = Field(None, description="Categorical only: the categories, `other` last when "
                                         "rare values were folded into it.")
    other: bool | None = Field(None, description="Categorical only: whether rare values were folded into `other`.")


class TargetOut(BaseModel):
    name: str
    kind: Literal["boolean", "integer", "number", "string"] = Field(..., description="The JSON type "
                                                                     "predictions come back in.")
    task: Task
    task_reason: str = Field(..., description="Why the task was chosen.")


class DatasetOut(BaseModel):
    id: str
    name: str
    task: Task
    task_reason: str | None = Field(None, description="Why the task was chosen (null for datasets stored "
                                    "before Axon said why).")
    n_samples: int
    n_features: int
    classes: list[Label] | None = Field(..., description="Sorted class labels (classification), else null.")
    feature_names: list[str] | None = Field(..., description="Column names (CSV, generator), else null; "
                                            "for an upload, the columns used, in order.")
    columns: list[ColumnOut] | None = Field(None, description="An upload's every column as read (its schema), "
                                            "else null.")
    target: TargetOut | None = Field(None, description="An upload's target column, else null.")
    created_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _from_schema(cls, value: Any) -> Any:
        schema = getattr(value, "table_schema", None)
        if schema is None:
            return value
        return {**{name: getattr(value, name) for name in cls.model_fields if hasattr(value, name)},
                "columns": schema["columns"], "target": schema["target"]}


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    next: str | None = Field(..., description="Path of the next page, null on the last one.")
    next_cursor: str | None = Field(..., description="The `cursor` of the next page (the one in `next`), null "
                                    "on the last one.")


class DatasetPath(BaseModel):
    dataset_id: str = Field(..., json_schema_extra={"example": "5f0c3e2a9b7d4c1e8a6f2b3d4e5f6a7b"})


class DatasetListQuery(BaseModel):
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN, description="The previous page's `next_cursor`: "
                               "the page after it.")


# ---- jobs -------------------------------------------------------------------------------------


class JobCreate(RequestModel):
    dataset_id: str = Field(..., description="An existing dataset; an unknown id is a 422 naming /dataset_id.")
    spec: NetworkSpec
    dry_run: bool = Field(False, description="Only check the spec against the dataset and answer 200 "
                          "with its JobEstimate; nothing is queued.")


class JobEstimate(Footprint):
    """What training the spec on the dataset would cost (``dry_run: true``); estimated, not measured."""

    max_training_bytes: int = Field(..., description="The server's limit on training_bytes.")
    within_limit: bool = Field(..., description="Whether the job would be accepted (training_bytes "
                               "at most max_training_bytes).")


class JobError(BaseModel):
    type: str
    message: str


class JobOut(BaseModel):
    id: str
    status: JobStatus
    dataset_id: str | None = Field(..., description="Null once the dataset was deleted.")
    spec: StoredSpec
    epoch: int = Field(..., description="Epochs finished.")
    epochs: int
    progress: float = Field(..., ge=0, le=1, description="epoch / epochs.")
    metrics: dict[str, Any] | None = Field(..., description="The latest epoch's record.")
    attempts: int
    error: JobError | None
    model_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    train_seconds: float
    sweep_id: str | None = Field(None, description="The sweep this job is a trial of, else null.")
    trial: int | None = Field(None, description="Its index in that sweep, else null.")


class JobPage(BaseModel):
    items: list[JobOut]
    next: str | None = Field(..., description="Path of the next page, null on the last one.")
    next_cursor: str | None = Field(..., description="The `cursor` of the next page (the one in `next`, with "
                                    "the same `status`), null on the last one.")


class JobPath(BaseModel):
    job_id: str = Field(..., json_schema_extra={"example": "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b"})


class JobListQuery(BaseModel):
    status: JobStatus | None = None
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN, description="The previous page's `next_cursor` "
                               "(with the same `status`): the page after it.")


class MetricsQuery(BaseModel):
    after: int | None = Field(None, ge=0, le=MAX_EPOCH, description="Only epochs after this one: the previous page's "
                                "`next_after` for the page after it.")


class MetricsPage(BaseModel):
    items: list[dict[str, Any]] = Field(..., description="Epoch records in epoch order.")
    next: str | None = Field(..., description="Path of the next page, null on the last one.")
    next_after: int | None = Field(..., description="The `after` of the next page (the one in `next`): the last "
                                   "epoch of this page, null on the last one.")


# ---- models -----------------------------------------------------------------------------------


class ModelOut(BaseModel):
    id: str
    job_id: str
    task: Task
    n_features: int
    classes: list[Label] | None
    spec: StoredSpec
    epoch: int | None = Field(..., description="The epoch whose weights the model holds: the best one when "
                              "early stopping restored its weights, else the last one (null for models "
                              "made before it was recorded).")
    metrics: dict[str, Any] | None = Field(..., description="The record of that epoch: these metrics "
                                           "describe the weights that predict answers with.")
    last_metrics: dict[str, Any] | None = Field(..., description="The record of the last epoch trained; "
                                                "the same as metrics unless the best epoch's weights "
                                                "were restored.")
    evaluation: Evaluation | None = Field(..., description="The evaluation report training made of the "
                                          "weights, on the validation split (on the training split, "
                                          "labelled so, without one); null for models made before it.")
    created_at: datetime


class ModelPath(BaseModel):
    model_id: str = Field(..., json_schema_extra={"example": "1e2d3c4b5a6f47889900aabbccddeeff"})


Cell = Union[StrictBool, StrictInt, StrictFloat, StrictStr, None]


class NumericPredictRequest(RequestModel):
    """Rows of numbers: what a model without column names (trained on JSON arrays) takes."""

    inputs: list[Row] = Field(..., min_length=1, description="(n_rows, n_features) numbers.")

    @field_validator("inputs", mode="before")
    @classmethod
    def _row_limit(cls, rows: Any, info: ValidationInfo) -> Any:
        return _within_row_limit(rows, info, "max_predict_rows")


class PredictRequest(RequestModel):
    """Rows to predict, in the order of the model's `feature_names`; a ``text/csv`` body of the same
    rows works too (with a header, matched by name, for a model with column names)."""

    inputs: list[list[Cell]] = Field(..., min_length=1, description="(n_rows, n_features) values: numbers, "
                                     "or for a model trained on an upload its columns' raw values (text, "
                                     "true/false, ISO dates; null for a missing value).")

    @field_validator("inputs", mode="before")
    @classmethod
    def _row_limit(cls, rows: Any, info: ValidationInfo) -> Any:
        return _within_row_limit(rows, info, "max_predict_rows")


class PredictRecords(RequestModel):
    """Rows to predict as records: each row an object of column name to raw value."""

    inputs: list[dict[str, Cell]] = Field(..., min_length=1, description="One object per row; columns the "
                                          "model does not use are ignored (and listed in `ignored_columns`).")

    @field_validator("inputs", mode="before")
    @classmethod
    def _row_limit(cls, rows: Any, info: ValidationInfo) -> Any:
        return _within_row_limit(rows, info, "max_predict_rows")


class PredictSplit(RequestModel):
    """Rows to predict as MLflow's `dataframe_split`: column names, then rows of values in that order."""

    columns: list[str] = Field(..., min_length=1, description="Column names, in any order.")
    data: list[list[Cell]] = Field(..., min_length=1, description="(n_rows, len(columns)) raw values.")
    index: list[Any] | None = Field(None, description="pandas' index, ignored.")

    @field_validator("data", mode="before")
    @classmethod
    def _row_limit(cls, rows: Any, info: ValidationInfo) -> Any:
        return _within_row_limit(rows, info, "max_predict_rows")


class PredictOut(BaseModel):
    predictions: list[Any] = Field(..., description="A class label or value per row "
                                   "(a list of values per row for several regression targets).")
    probabilities: list[list[float]] | None = Field(None, description="Per row, one per class "
                                                    "in the order of `classes` (classification only).")
    classes: list[Label] | None = Field(None, description="Classification only.")
    ignored_columns: list[str] | None = Field(None, description="Columns sent that the model does not use.")


# ---- health -----------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    checks: dict[str, str] | None = None
