"""The evaluation report as the API shows it: the engine's :mod:`mlp.evaluation` dicts, typed.

Pydantic only, so :mod:`service.schemas` (``ModelOut``) and :mod:`service.evaluation` both import it.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field, RootModel

Label = Union[int, str]

EvaluatedOn = Literal["validation", "training", "dataset", "rows"]
EVALUATED_ON = ("What the report is of: `validation`, the job's validation split; `training`, its "
                "training split, when the spec had no validation split (rows the network learned "
                "from, so optimistic); `dataset`, the dataset `dataset_id`; `rows`, the rows of an "
                "evaluate request.")
UNDEFINED = "null where undefined (no row of the class, or the class never predicted)."


class ClassScores(BaseModel):
    label: Label
    precision: float | None = Field(..., description="TP / predicted as this class; " + UNDEFINED)
    recall: float | None = Field(..., description="TP / rows of this class; " + UNDEFINED)
    f1: float | None = Field(..., description="2 TP / (rows of the class + rows predicted as it); "
                             "null when the class neither occurs nor is predicted.")
    support: int = Field(..., description="Rows whose true class this is.")


class ClassificationEvaluation(BaseModel):
    """Classification metrics, each as `sklearn.metrics` defines it."""

    task: Literal["classification"]
    evaluated_on: EvaluatedOn = Field(..., description=EVALUATED_ON)
    dataset_id: str | None = Field(None, description="The dataset evaluated on (`evaluated_on: dataset`).")
    n_samples: int
    classes: list[Label] = Field(..., description="The model's classes: the order of the matrix's rows and columns.")
    confusion_matrix: list[list[int]] = Field(..., description="(n_classes, n_classes) counts: row = true "
                                              "class, column = predicted class, in the order of `classes`.")
    per_class: list[ClassScores] = Field(..., description="One entry per class, in the order of `classes`.")
    accuracy: float
    macro_f1: float = Field(..., description="Unweighted mean F1 over the classes that occur as a true or a "
                            "predicted label (scikit-learn's default labels).")
    weighted_f1: float = Field(..., description="Mean F1 weighted by support.")
    log_loss: float = Field(..., description="Mean -ln p(true class), probabilities clipped to [eps, 1 - eps].")
    roc_auc: float | None = Field(..., description="Area under the ROC curve of P(second class): two "
                                  "classes only, null with more or when only one class occurs.")


class TargetScores(BaseModel):
    mae: float
    rmse: float
    r2: float | None


class RegressionEvaluation(BaseModel):
    """Regression metrics in the targets' own units, each as `sklearn.metrics` defines it."""

    task: Literal["regression"]
    evaluated_on: EvaluatedOn = Field(..., description=EVALUATED_ON)
    dataset_id: str | None = Field(None, description="The dataset evaluated on (`evaluated_on: dataset`).")
    n_samples: int
    n_targets: int
    mae: float = Field(..., description="Mean absolute error (mean over targets).")
    rmse: float = Field(..., description="Root mean squared error (mean over targets).")
    r2: float | None = Field(..., description="Coefficient of determination (mean over targets); a constant "
                             "target scores 1 when predicted exactly, else 0; null with fewer than 2 rows.")
    per_target: list[TargetScores] | None = Field(None, description="Each target's, for several targets.")


Evaluation = Annotated[ClassificationEvaluation | RegressionEvaluation, Field(discriminator="task")]


class EvaluationOut(RootModel[Evaluation]):
    """An evaluation report: classification or regression metrics, by ``task``."""
