"""The preprocessing a model keeps, against scikit-learn's ColumnTransformer on the same split, and
predict by column name: records, dataframe_split and CSV in any order give the same answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mlp import Model
from service.app_state import app_state
from service.tables import Dataset, TrainedModel
from service.tabular import fit_for_training
from service.tabular.preprocess import datetime_parts
from worker.runner import Outcome, run_job

from tests.support.calls import submit_job

from .test_datasets import stored
from .test_tabular_upload import as_csv, penguins, upload


def train(client, app, frame: pd.DataFrame, target: str, **spec) -> tuple[dict, str]:
    """Upload ``frame``, train a job on it in this process, and return (dataset, model id)."""
    response = upload(client, as_csv(frame), target=target)
    assert response.status_code == 201, response.get_json()
    dataset = response.get_json()
    job = submit_job(client, dataset["id"], epochs=40, **spec)
    with app.app_context():
        assert run_job(job["id"]) == Outcome.SUCCEEDED
    return dataset, client.get(f"/v1/jobs/{job['id']}").get_json()["model_id"]


def model_of(app, model_id: str) -> Model:
    with app_state(app).sessions() as session:
        return Model.from_bytes(session.get(TrainedModel, model_id).artefact)


def test_the_preprocessing_is_a_column_transformer_fitted_on_the_training_split(client, app):
    frame = penguins(150, seed=4)
    dataset = upload(client, as_csv(frame), target="species").get_json()
    with app_state(app).sessions() as session:
        row = session.get(Dataset, dataset["id"])
        schema, classes, task = row.table_schema, row.classes, row.task
    _, coded, targets = stored(app, dataset["id"])
    spec = {"validation_split": 0.25, "seed": 3}
    inputs, preprocessing = fit_for_training(schema, classes, task, coded, targets, spec)

    from mlp.data import encode_targets, split_indices
    from service.storage import training_targets
    train_rows, _ = split_indices(encode_targets(training_targets(targets, classes), task), 0.25, 3)
    train = frame.iloc[train_rows]
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True))
    reference = ColumnTransformer([
        # Categories of the training split only; a missing value is a category of its own (sklearn's NaN).
        ("island", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["island"]),
        ("is_male", numeric, ["is_male"]),
        ("body_mass_g", numeric, ["body_mass_g"]),
        ("bill_length_mm", numeric, ["bill_length_mm"]),
    ])
    as_objects = frame.assign(island=frame["island"].astype(object).where(frame["island"].notna(), np.nan),
                              is_male=frame["is_male"].astype(float))
    reference.fit(as_objects.iloc[train_rows])
    expected = reference.transform(as_objects)
    # The date's five parts, imputed as numbers (no date is missing here), then the rest as sklearn has them.
    parts = np.column_stack([frame["observed"].dt.year, frame["observed"].dt.month, frame["observed"].dt.day,
                             frame["observed"].dt.day_of_week, frame["observed"].dt.hour])
    np.testing.assert_array_equal(inputs[:, :5], parts)
    np.testing.assert_array_equal(inputs[:, 5:], expected)
    assert preprocessing["outputs"][:6] == ["observed.year", "observed.month", "observed.day", "observed.weekday",
                                            "observed.hour", "island=Biscoe"]
    assert preprocessing["outputs"][-2:] == ["bill_length_mm", "bill_length_mm (missing)"]
    assert train["bill_length_mm"].isna().any()  # So the missing column is the training split's doing.


def test_datetime_parts_are_pandas_parts():
    stamps = pd.to_datetime(["1999-12-31 23:45:00", "2024-02-29 06:30:00", "1970-01-01 00:00:00"])
    seconds = ((stamps - pd.Timestamp(0)).total_seconds()).to_numpy()
    expected = np.column_stack([stamps.year, stamps.month, stamps.day, stamps.day_of_week,
                                stamps.hour + stamps.minute / 60])
    np.testing.assert_array_equal(datetime_parts(seconds), expected)


@pytest.fixture
def penguin_model(client, app):
    frame = penguins(150, seed=5)
    dataset, model_id = train(client, app, frame, "species")
    return frame, dataset, model_id


def test_predict_by_name_gives_the_same_answer_in_every_shape_and_order(client, penguin_model):
    frame, dataset, model_id = penguin_model
    rows = frame.drop(columns="species").iloc[:12].copy()
    rows["observed"] = rows["observed"].dt.strftime("%Y-%m-%d")
    records = [{key: (None if pd.isna(value) else value.item() if hasattr(value, "item") else value)
                for key, value in record.items()} for record in rows.to_dict(orient="records")]
    url = f"/v1/models/{model_id}/predict"
    by_records = client.post(url, json={"inputs": records}).get_json()
    assert by_records["ignored_columns"] == ["name"] and set(by_records["predictions"]) <= set(dataset["classes"])
    reversed_columns = list(rows.columns)[::-1]
    split = {"columns": reversed_columns, "data": [[record[name] for name in reversed_columns] for record in records]}
    by_split = client.post(url, json=split).get_json()
    shuffled = rows[np.random.default_rng(0).permutation(rows.columns)]
    by_csv = client.post(url, data=shuffled.to_csv(index=False), content_type="text/csv").get_json()
    positional = [[record[name] for name in dataset["feature_names"]] for record in records]
    by_position = client.post(url, json={"inputs": positional}).get_json()
    for answer in (by_split, by_csv, by_position):
        assert answer["predictions"] == by_records["predictions"]
        np.testing.assert_allclose(answer["probabilities"], by_records["probabilities"], rtol=1e-6)


def test_predict_applies_the_training_preprocessing(client, app, penguin_model):
    """The answer for the training rows is the network's on the matrix training built (one function)."""
    frame, dataset, model_id = penguin_model
    model = model_of(app, model_id)
    with app_state(app).sessions() as session:
        row = session.get(Dataset, dataset["id"])
        schema, classes, task = row.table_schema, row.classes, row.task
    _, coded, targets = stored(app, dataset["id"])
    inputs, preprocessing = fit_for_training(schema, classes, task, coded, targets, model.meta["spec"])
    assert preprocessing == model.meta["preprocessing"]
    csv = frame.drop(columns="species").to_csv(index=False)
    answer = client.post(f"/v1/models/{model_id}/predict", data=csv, content_type="text/csv").get_json()
    assert answer["predictions"] == model.predict(inputs).predictions.tolist()
    # It learned: far better than the 1/3 of guessing.
    assert np.mean(np.asarray(answer["predictions"]) == frame["species"].to_numpy()) > 0.8


def test_unknown_categories_and_missing_values_are_answered(client, penguin_model):
    frame, dataset, model_id = penguin_model
    record = {"observed": "2024-06-01", "island": "Atlantis", "is_male": None, "body_mass_g": None,
              "bill_length_mm": ""}
    response = client.post(f"/v1/models/{model_id}/predict", json={"inputs": [record]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["predictions"][0] in dataset["classes"]


def test_a_missing_column_is_a_422_naming_it_and_bad_cells_all_come_back(client, penguin_model):
    _, _, model_id = penguin_model
    url = f"/v1/models/{model_id}/predict"
    response = client.post(url, json={"inputs": [{"observed": "2024-06-01", "island": "Dream"}]})
    assert response.status_code == 422
    assert "missing columns is_male, body_mass_g, bill_length_mm" in response.get_json()["errors"][0]["detail"]
    csv = "bill_length_mm,body_mass_g,is_male,island,observed\nlong,3000,true,Dream,2024-01-01\n40,heavy,maybe,Dream,x\n"
    errors = client.post(url, data=csv, content_type="text/csv").get_json()["errors"]
    assert [error["pointer"] for error in errors] == ["/inputs/1/4", "/inputs/1/2", "/inputs/1/1", "/inputs/0/0"]


def test_targets_come_back_in_their_own_type(client, app):
    rng = np.random.default_rng(2)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "flag": x > 0, "grade": np.where(x > 0, 7, 3)})
    _, flag_model = train(client, app, frame.drop(columns="grade"), "flag")
    _, grade_model = train(client, app, frame.drop(columns="flag"), "grade")
    rows = {"inputs": [{"x": 2.0}, {"x": -2.0}]}
    flag = client.post(f"/v1/models/{flag_model}/predict", json=rows).get_json()
    grade = client.post(f"/v1/models/{grade_model}/predict", json=rows).get_json()
    assert (flag["predictions"], flag["classes"]) == ([True, False], [False, True])
    assert (grade["predictions"], grade["classes"]) == ([7, 3], [3, 7])
    assert client.get(f"/v1/models/{flag_model}").get_json()["classes"] == [False, True]


def test_another_upload_of_the_same_columns_is_prepared_by_name(client, app, penguin_model):
    """prepare_dataset (for evaluating a model on a labelled dataset) recodes the other upload's
    categories and column order: its rows give the answers predict gives for the same rows."""
    from service.tabular import prepare_dataset

    frame, _, model_id = penguin_model
    other = frame.iloc[::-1].reset_index(drop=True)
    other = other[["bill_length_mm", "island", "species", "observed", "body_mass_g", "is_male"]]
    other.loc[0, "island"] = "Atlantis"  # Not a category of the model: no category at all.
    dataset = upload(client, as_csv(other, index=False), target="species").get_json()
    with app_state(app).sessions() as session:
        row = session.get(Dataset, dataset["id"])
        schema, names = row.table_schema, row.feature_names
    _, coded, _ = stored(app, dataset["id"])
    model = model_of(app, model_id)
    inputs = prepare_dataset(model.meta["preprocessing"], schema, names, coded)
    answer = client.post(f"/v1/models/{model_id}/predict", data=other.drop(columns="species").to_csv(index=False),
                         content_type="text/csv").get_json()
    assert model.predict(inputs).predictions.tolist() == answer["predictions"]
    assert inputs[0, [index for index, name in enumerate(model.meta["preprocessing"]["outputs"])
                      if name.startswith("island=")]].sum() == 0


def test_the_client_predicts_a_dataframe_records_and_csv_alike(client, app, penguin_model, tmp_path):
    import httpx

    from axon import Client

    frame, _, model_id = penguin_model
    rows = frame.drop(columns=["species", "name"]).iloc[:8]
    key = app.config["AXON_TEST_KEY"]
    with Client("http://axon.test", key=key, transport=httpx.WSGITransport(app=app)) as axon:
        by_frame = axon.predict(model_id, rows[rows.columns[::-1]])  # A DataFrame, columns reversed.
        records = [{name: (None if pd.isna(value) else value) for name, value in record.items()}
                   for record in rows.assign(observed=rows["observed"].dt.strftime("%Y-%m-%d"))
                   .astype(object).to_dict(orient="records")]
        by_records = axon.predict(model_id, records)
        by_csv = axon.predict_csv(model_id, rows.to_csv(index=False))
    assert by_frame.predictions.tolist() == by_records.predictions.tolist() == by_csv.predictions.tolist()
    np.testing.assert_allclose(by_frame.probabilities, by_csv.probabilities, rtol=1e-6)


def test_evaluate_on_a_raw_csv_dataset_matches_sklearn_on_the_predictions_by_name(client, app):
    """A model trained on a CSV with strings, dates and empty cells is evaluated on another upload of
    such rows (columns in another order): the report is sklearn.metrics' on predict's own answers."""
    from sklearn import metrics

    dataset, model_id = train(client, app, penguins(150, seed=4), "species", validation_split=0.2, seed=3)
    other = penguins(60, seed=9)
    reordered = other[list(reversed(other.columns))]
    held_out = upload(client, as_csv(reordered), target="species").get_json()
    report = client.post(f"/v1/models/{model_id}/evaluate", json={"dataset_id": held_out["id"]})
    assert report.status_code == 200, report.get_json()
    report = report.get_json()
    rows = other.drop(columns=["species"]).astype(object).where(other.drop(columns=["species"]).notna(), None)
    rows["observed"] = other["observed"].dt.strftime("%Y-%m-%d %H:%M:%S")
    answer = client.post(f"/v1/models/{model_id}/predict",
                         json={"inputs": rows.to_dict(orient="records")}).get_json()
    truth, predicted = list(other["species"]), answer["predictions"]
    labels = report["classes"]
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert report["confusion_matrix"] == metrics.confusion_matrix(truth, predicted, labels=labels).tolist()
    assert report["macro_f1"] == pytest.approx(metrics.f1_score(truth, predicted, average="macro"))


def test_a_boolean_targets_reports_show_booleans_and_raw_labelled_rows_evaluate(client, app):
    """The stored report and evaluate's are in the target's own type, and evaluate takes raw rows
    (text, empty cells) with true/false targets as predict takes them; checked against sklearn."""
    from sklearn import metrics

    rng = np.random.default_rng(5)
    x = rng.normal(size=240)
    frame = pd.DataFrame({"x": x, "colour": rng.choice(["red", "blue"], size=240), "flag": x > 0})
    _, model_id = train(client, app, frame, "flag", validation_split=0.25, seed=1)
    stored = client.get(f"/v1/models/{model_id}").get_json()["evaluation"]
    assert stored["classes"] == [False, True] and [entry["label"] for entry in stored["per_class"]] == [False, True]

    rows = [[1.5, "red"], [-0.7, "blue"], [0.3, None], [-2.0, "green"], [0.05, "blue"]]
    targets = [True, False, True, False, False]
    report = client.post(f"/v1/models/{model_id}/evaluate", json={"inputs": rows, "targets": targets})
    assert report.status_code == 200, report.get_json()
    report = report.get_json()
    predicted = client.post(f"/v1/models/{model_id}/predict", json={"inputs": rows}).get_json()["predictions"]
    assert report["classes"] == [False, True]
    assert report["confusion_matrix"] == metrics.confusion_matrix(targets, predicted, labels=[False, True]).tolist()
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(targets, predicted))
    unknown = client.post(f"/v1/models/{model_id}/evaluate", json={"inputs": rows[:1], "targets": ["True"]})
    assert unknown.status_code == 422 and unknown.get_json()["errors"][0]["pointer"] == "/targets/0"
