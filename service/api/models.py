"""/v1/models: a trained model's description, its weights (npz or ONNX), and predictions from it."""

from __future__ import annotations

from flask import Response

from . import resource_blueprint
from ..errors import Conflict, problem_docs
from ..evaluation import EvaluateDataset, EvaluateRows, evaluate_request
from ..evaluation_schemas import EvaluationOut
from ..http import JSON, body_docs, json_response
from ..predict import find_model_row, load_model, predict_body_docs, predict_request
from ..schemas import ModelOut, ModelPath, PredictOut
from ..tabular import is_identity

blueprint = resource_blueprint("models", __name__, "/v1/models")

WEIGHTS_DOC = {
    "description": "The engine's npz artefact: weights, spec and preprocessing (no pickle).",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


@blueprint.get("/<model_id>", responses={200: ModelOut, **problem_docs(404)})
def get_model(path: ModelPath):
    """Show a trained model: task, features, classes, spec and final metrics."""
    return json_response(ModelOut.model_validate(find_model_row(path.model_id), from_attributes=True))


@blueprint.get("/<model_id>/weights", responses={200: WEIGHTS_DOC, **problem_docs(404)})
def get_weights(path: ModelPath):
    """Download the model artefact; ``mlp.Model.from_bytes`` loads it."""
    row = find_model_row(path.model_id, with_artefact=True)
    disposition = f'attachment; filename="axon-model-{row.id}.npz"'
    return Response(row.artefact, 200, {"Content-Disposition": disposition}, mimetype="application/octet-stream")


ONNX_DOC = {
    "description": "The model as ONNX: input `features` (n_rows, n_features) double, the raw rows "
                   "predict takes; outputs `label` and `probabilities` (classification) or `value` (regression), "
                   "with the standardisation inside the graph.",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


@blueprint.get("/<model_id>/onnx", responses={200: ONNX_DOC, **problem_docs(404, 409)})
def get_onnx(path: ModelPath):
    """Download the model as ONNX, for onnxruntime or any ONNX runtime: raw rows in, predict's answers out.

    409 for a model whose upload's preprocessing (imputation, one-hot, dates) the graph does not hold.
    """
    # Imported here: onnx takes about a second to import, which no other route should cost the API's start.
    from axon.onnx_export import to_onnx

    model = load_model(path.model_id)  # The predict cache: an export needs no database read after the first.
    if not is_identity(model.meta.get("preprocessing")):
        raise Conflict("this model imputes, one-hot encodes or splits dates before its network, which the ONNX "
                       "export does not hold yet; predict through the API")
    blob = to_onnx(model, name=f"axon-model-{path.model_id}").SerializeToString()
    disposition = f'attachment; filename="axon-model-{path.model_id}.onnx"'
    return Response(blob, 200, {"Content-Disposition": disposition}, mimetype="application/octet-stream")


@blueprint.post("/<model_id>/predict", responses={200: PredictOut, **problem_docs(400, 404, 413, 415, 422)},
                openapi_extensions=predict_body_docs(blueprint))
def predict_rows(path: ModelPath):
    """Predict from JSON ``inputs`` or ``text/csv`` rows; probabilities and classes for classification.

    Rows come as `inputs` rows (in the order of the dataset's `feature_names`), `inputs` records,
    `columns` + `data` (MLflow's dataframe_split) or CSV with a header; by name for a model with
    column names, so the order never matters. A column the model needs and the rows lack is a 422
    naming it; others are ignored and listed in `ignored_columns`; missing values (null, empty,
    NA) are imputed as in training.

    Rules the schema cannot hold, each a 422 naming the place: rows of another width than the model's
    features (`/inputs`, or `/inputs/<i>` for the first odd row); rows x classes (or targets) over
    max_predict_values (`/inputs`); values a float32 model cannot hold (`/inputs`). A CSV body
    meets the same rules, a cell that is not a finite number named as `/inputs/<row>/<column>`, and no
    rows at all as `/inputs`.
    """
    return json_response(predict_request(path.model_id), exclude_none=True)


@blueprint.post("/<model_id>/evaluate", responses={200: EvaluationOut, **problem_docs(400, 404, 413, 415, 422)},
                openapi_extensions=body_docs(blueprint, {JSON: [EvaluateDataset, EvaluateRows]},
                                             {"inputs": [[0.5, -1.2], [3.0, 0.1]], "targets": [1, 0]}))
def evaluate_model(path: ModelPath):
    """Evaluate the model on a labelled dataset (`dataset_id`) or labelled rows (`inputs`, `targets`).

    The answer is the report training stores with the model (`evaluation` of GET /v1/models/{id}),
    made on the given rows. Rules the schema cannot hold, each a 422 naming the place: rows as
    predict refuses them (`/inputs`); not one target per row (`/targets`); a class label the model
    does not know, or a string for a regression model (`/targets/<i>`); an unknown dataset, one
    with another task or feature count than the model's, with labels the model does not know, or
    with rows x classes (targets) over max_predict_values (`/dataset_id`).
    """
    return json_response(evaluate_request(path.model_id))
