"""Evaluation reports: the metrics people expect of a trained model, computed by hand in NumPy.

A classification report holds the confusion matrix, per-class precision, recall and F1, accuracy,
macro and weighted F1, the log-loss and, for two classes, the ROC AUC; a regression report holds
MAE, RMSE and R². Each number is defined as :mod:`sklearn.metrics` defines it (tests/mlp check
them against it on the same predictions); scikit-learn is not needed to compute them.

Where a number is undefined on the rows at hand it is ``None`` (JSON null), never NaN: precision
of a class never predicted, recall of a class with no row, ROC AUC when only one class occurs, R²
of a single row. :func:`split_report` evaluates a training run's own split at the end of :func:`mlp.fit`.
"""

from __future__ import annotations

import numpy as np

from .losses import LOSSES

REPORT_ROWS = 4096  # Rows per forward pass in split_report: bounds memory on large splits.


def classification_report(true_indices, probabilities, classes: list) -> dict:
    """Metrics of predicted ``probabilities`` against the true classes.

    Parameters
    ----------
    true_indices : (n_samples,) ints, each an index into ``classes``.
    probabilities : (n_samples, n_classes) in the order of ``classes``; the predicted class of a
        row is its most probable one (the first on a tie), as :meth:`mlp.Model.predict` picks it.
    classes : the model's class labels, all of them, whether or not they occur here.

    Returns
    -------
    ``confusion_matrix`` (n_classes, n_classes): row = true class, column = predicted class, both
    in the order of ``classes``; ``per_class``: label, precision, recall, f1, support (true rows);
    ``accuracy``; ``macro_f1``, the unweighted mean of F1 over the classes that occur as a true or a
    predicted label (scikit-learn's default labels, so a class absent from these rows and never
    predicted does not pull it down); ``weighted_f1``, weighted by support; ``log_loss``; and
    ``roc_auc`` of the second class's probability (two classes only; None when one class occurs).
    """
    true_indices = np.asarray(true_indices, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n_classes = len(classes)
    predicted = probabilities.argmax(axis=1)
    confusion = np.bincount(true_indices * n_classes + predicted, minlength=n_classes * n_classes)
    confusion = confusion.reshape(n_classes, n_classes)
    true_positives = np.diag(confusion)
    support = confusion.sum(axis=1)  # Rows of each true class.
    predicted_counts = confusion.sum(axis=0)
    precision = _ratios(true_positives, predicted_counts)
    recall = _ratios(true_positives, support)
    # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (support + predicted): defined whenever the class occurs.
    f1 = _ratios(2 * true_positives, support + predicted_counts)
    occurring = (support + predicted_counts) > 0
    f1_values = np.array([0.0 if value is None else value for value in f1])
    report = {
        "task": "classification",
        "n_samples": len(true_indices),
        "classes": list(classes),
        "confusion_matrix": confusion.tolist(),
        "per_class": [
            {"label": label, "precision": precision[index], "recall": recall[index], "f1": f1[index],
             "support": int(support[index])}
            for index, label in enumerate(classes)
        ],
        "accuracy": float(true_positives.sum()) / len(true_indices),
        "macro_f1": float(f1_values[occurring].mean()),
        "weighted_f1": float((f1_values * support).sum()) / float(support.sum()),
        "log_loss": log_loss(true_indices, probabilities),
        "roc_auc": None,
    }
    if n_classes == 2:
        report["roc_auc"] = roc_auc(true_indices == 1, probabilities[:, 1])
    return report


def _ratios(numerators: np.ndarray, denominators: np.ndarray) -> list:
    """``numerator / denominator`` per class as floats, None where the denominator is 0."""
    return [None if int(below) == 0 else float(above) / float(below) for above, below in zip(numerators, denominators)]


def log_loss(true_indices: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean of ``-log p(true class)``, as :func:`sklearn.metrics.log_loss` takes it.

    Probabilities are clipped to [eps, 1 - eps] (float64's eps) and each row renormalised to sum
    1 first, so a confidently wrong row costs about 36 nats rather than infinity.
    """
    eps = np.finfo(np.float64).eps
    clipped = np.clip(probabilities, eps, 1 - eps)
    clipped /= clipped.sum(axis=1, keepdims=True)
    return float(-np.log(clipped[np.arange(len(true_indices)), true_indices]).mean())


def roc_auc(positive, scores) -> float | None:
    """Area under the ROC curve of ``scores`` (n_samples,) for the boolean ``positive`` (n_samples,).

    It is the chance that a random positive row scores above a random negative one, ties counting
    half (the Mann-Whitney statistic from mid-ranks), which is the trapezoidal area scikit-learn
    computes. None when only one of the two kinds occurs: the curve is then undefined.
    """
    positive = np.asarray(positive, dtype=bool)
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return None
    ranks = _mid_ranks(np.asarray(scores, dtype=np.float64))
    rank_sum = float(ranks[positive].sum())
    return (rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)


def _mid_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` (n,), tied values all taking the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Each run of equal values spans ranks first..last; every member gets (first + last) / 2.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    run_ranks = (starts + 1 + ends) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def regression_report(targets, predictions) -> dict:
    """MAE, RMSE and R² of ``predictions`` against ``targets``, both (n_samples, n_targets).

    Each is the mean over targets of the per-target value (scikit-learn's ``uniform_average``);
    ``per_target`` lists them for several targets. R² of a constant target is 1 when predicted
    exactly, else 0 (scikit-learn's ``force_finite``); with fewer than two rows R² is None.
    """
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(targets.shape)
    errors = predictions - targets
    mae = np.abs(errors).mean(axis=0)
    rmse = np.sqrt((errors**2).mean(axis=0))
    r2 = _r2(targets, errors)
    report = {
        "task": "regression",
        "n_samples": len(targets),
        "n_targets": int(targets.shape[1]),
        "mae": float(mae.mean()),
        "rmse": float(rmse.mean()),
        "r2": None if r2 is None else float(r2.mean()),
    }
    if targets.shape[1] > 1:
        report["per_target"] = [
            {"mae": float(mae[index]), "rmse": float(rmse[index]), "r2": None if r2 is None else float(r2[index])}
            for index in range(targets.shape[1])
        ]
    return report


def _r2(targets: np.ndarray, errors: np.ndarray) -> np.ndarray | None:
    """(n_targets,) ``1 - SS_res / SS_tot``, or None with fewer than two rows."""
    if len(targets) < 2:
        return None
    residual = (errors**2).sum(axis=0)
    total = ((targets - targets.mean(axis=0)) ** 2).sum(axis=0)
    constant = total == 0
    return np.where(constant, (residual == 0).astype(float), 1.0 - residual / np.where(constant, 1.0, total))


def split_report(state, split, evaluated_on: str) -> dict:
    """The report of the network's current weights on one split of its training data.

    The split's features are already standardised and its targets shaped for the loss (one-hot,
    a 0/1 column, or values scaled as the network was trained); both are undone here, so the
    report is in the labels' and the targets' own terms, as predict answers.

    Parameters
    ----------
    state : a :class:`mlp.state.TrainingState`.
    split : one of its data's splits (``train`` or ``validation``).
    evaluated_on : what the split is, for the report's ``evaluated_on`` (``validation``, ``training``).
    """
    data, network, backend = state.data, state.network, state.backend
    link = LOSSES[data.loss].link
    outputs = np.concatenate([
        backend.to_host(link(network.infer(split.features[start : start + REPORT_ROWS]))).astype(np.float64)
        for start in range(0, len(split), REPORT_ROWS)
    ])
    targets = backend.to_host(split.targets).astype(np.float64)
    if data.task == "regression":
        if data.target_std is not None:
            outputs, targets = (values * data.target_std + data.target_mean for values in (outputs, targets))
        report = regression_report(targets, outputs)
    elif outputs.shape[1] == 1:  # One sigmoid unit: P(second class); targets a 0/1 column.
        report = classification_report(targets[:, 0].astype(np.int64), np.hstack([1.0 - outputs, outputs]),
                                       data.classes)
    else:
        report = classification_report(targets.argmax(axis=1), outputs, data.classes)
    return {"evaluated_on": evaluated_on, **report}


def final_report(state) -> dict:
    """The report a run's model carries: on the validation split, or, with none, on the training
    split, labelled ``evaluated_on: "training"`` (rows the network learned from, so optimistic)."""
    data = state.data
    if data.validation is not None:
        return split_report(state, data.validation, "validation")
    return split_report(state, data.train, "training")
