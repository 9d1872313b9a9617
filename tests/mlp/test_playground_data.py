"""Tests for mlp.playground_data against the playground's own definitions (src/dataset.ts)."""

from typing import get_args

import numpy as np
import pytest
from pydantic import ValidationError

from mlp.playground_data import (
    FEATURES,
    GENERATORS,
    DatasetKind,
    FeatureName,
    GeneratorSpec,
    expand_features,
    generate,
)

CLASSIFIERS = [kind for kind, (_, task) in GENERATORS.items() if task == "classification"]
REGRESSORS = [kind for kind, (_, task) in GENERATORS.items() if task == "regression"]


def draw(kind, n_samples=2000, noise=0.0, seed=0, features=("x1", "x2")):
    return generate(GeneratorSpec(kind=kind, n_samples=n_samples, noise=noise,
                                  seed=seed, features=list(features)))


def test_tables_match_the_literal_types():
    assert set(GENERATORS) == set(get_args(DatasetKind))
    assert set(FEATURES) == set(get_args(FeatureName))
    assert set(CLASSIFIERS) == {"circle", "xor", "gauss", "spiral"}
    assert set(REGRESSORS) == {"plane", "multigauss"}


# --- shapes, dtypes, balance ---------------------------------------------------

@pytest.mark.parametrize("kind", list(GENERATORS))
@pytest.mark.parametrize("n_samples", [2, 7, 500])
def test_shapes_and_dtypes(kind, n_samples):
    data = draw(kind, n_samples=n_samples, noise=0.2, features=["x1", "x2", "sin(x1)"])
    assert data.points.shape == (n_samples, 2)
    assert data.features.shape == (n_samples, 3)
    assert data.targets.shape == (n_samples,)
    assert data.points.dtype == np.float64 and data.features.dtype == np.float64
    assert data.feature_names == ("x1", "x2", "sin(x1)")
    assert data.task == GENERATORS[kind][1]
    if data.task == "classification":
        assert data.targets.dtype == np.int64
        assert set(np.unique(data.targets)) <= {0, 1}
    else:
        assert data.targets.dtype == np.float64
    assert np.isfinite(data.features).all() and np.isfinite(data.targets).all()


@pytest.mark.parametrize("kind", ["circle", "gauss", "spiral"])
@pytest.mark.parametrize("n_samples", [2, 9, 1001, 1000])
def test_class_sizes_are_exact_halves_first_class_larger(kind, n_samples):
    targets = draw(kind, n_samples=n_samples).targets
    assert (targets == 1).sum() == (n_samples + 1) // 2
    assert (targets == 0).sum() == n_samples // 2


def test_xor_roughly_balanced():
    assert 0.45 < draw("xor", n_samples=4000).targets.mean() < 0.55


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_rows_are_shuffled(kind):
    data = draw(kind, n_samples=400)
    if data.task == "classification":
        # Unshuffled, all positives would come first.
        assert not (data.targets[:200] == 1).all()
    else:
        # Regression rows carry no order to test, so compare with the generator's own
        # unshuffled draw: same rows, different order.
        generator, _ = GENERATORS[kind]
        raw_points, _ = generator(400, 0.0, np.random.default_rng(0))
        assert not np.array_equal(raw_points, data.points)
        assert np.array_equal(np.sort(raw_points, axis=0), np.sort(data.points, axis=0))


# --- noise-free geometry, per the playground's formulas ------------------------

def test_circle_geometry_without_noise():
    data = draw("circle")
    radii = np.hypot(data.points[:, 0], data.points[:, 1])
    assert np.array_equal(data.targets, (radii < 2.5).astype(np.int64))
    assert (radii[data.targets == 1] <= 2.5).all()
    negatives = radii[data.targets == 0]
    assert (negatives >= 3.5).all() and (negatives <= 5.0).all()


def test_xor_geometry_without_noise():
    data = draw("xor")
    x1, x2 = data.points.T
    assert np.array_equal(data.targets, (x1 * x2 >= 0).astype(np.int64))
    assert (np.abs(data.points) >= 0.3).all() and (np.abs(data.points) <= 5.3).all()
    # Every quadrant is populated.
    assert len({(a, b) for a, b in np.sign(data.points).astype(int)}) == 4


@pytest.mark.parametrize("n_samples", [1000, 1001])
def test_spiral_points_lie_on_their_arm_without_noise(n_samples):
    data = draw("spiral", n_samples=n_samples)
    for label, delta_angle, n_arm in [(1, 0.0, (n_samples + 1) // 2), (0, np.pi, n_samples // 2)]:
        arm = data.points[data.targets == label]
        # Recover each point's index i from r = 5 i / n, then rebuild the point.
        index = np.rint(np.hypot(arm[:, 0], arm[:, 1]) * n_arm / 5.0)
        assert np.array_equal(np.sort(index), np.arange(n_arm))
        angle = 1.75 * index / n_arm * 2 * np.pi + delta_angle
        radius = 5.0 * index / n_arm
        expected = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
        np.testing.assert_allclose(arm, expected, atol=1e-12)


def test_plane_target_is_unclamped_sum_over_ten_without_noise():
    data = draw("plane")
    np.testing.assert_allclose(data.targets, data.points.sum(axis=1) / 10.0, rtol=0, atol=1e-15)
    assert (np.abs(data.points) <= 6.0).all()
    # Corners where |x1 + x2| > 10 exist and keep targets beyond [-1, 1].
    assert (np.abs(data.targets) > 1.0).any()


def _multigauss_reference(x, y):
    """Literal transcription of regressGaussian's getLabel."""
    bumps = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]
    label = 0.0
    for cx, cy, sign in bumps:
        scaled = min(max(1 - np.hypot(x - cx, y - cy) / 2, 0.0), 1.0)
        if abs(sign * scaled) > abs(label):
            label = sign * scaled
    return label


def test_multigauss_matches_playground_loop_without_noise():
    data = draw("multigauss", n_samples=500)
    expected = [_multigauss_reference(x, y) for x, y in data.points]
    np.testing.assert_allclose(data.targets, expected, rtol=0, atol=1e-15)
    assert (data.targets >= -1).all() and (data.targets <= 1).all()
    assert data.targets.min() < -0.8 and data.targets.max() > 0.8
    assert (data.targets == 0).any()  # points more than 2 from every centre


def test_gauss_centres_and_std_follow_variance_scale():
    for noise, expected_std in [(0.0, np.sqrt(0.5)), (0.5, 2.0)]:
        data = draw("gauss", n_samples=4000, noise=noise)
        for label, centre in [(1, 2.0), (0, -2.0)]:
            cloud = data.points[data.targets == label]
            np.testing.assert_allclose(cloud.mean(axis=0), centre, atol=0.15)
            np.testing.assert_allclose(cloud.std(axis=0), expected_std, rtol=0.06)


# --- noise semantics -----------------------------------------------------------

def test_circle_noise_moves_labels_not_points():
    data = draw("circle", noise=0.3)
    radii = np.hypot(data.points[:, 0], data.points[:, 1])
    # Points still come from the disc (first half) and ring (second half) ...
    assert ((radii <= 2.5) | ((radii >= 3.5) & (radii <= 5.0))).all()
    # ... but some labels disagree with where the point sits.
    disagree = data.targets != (radii < 2.5)
    assert 0 < disagree.mean() < 0.5


def test_xor_noise_moves_labels_not_points():
    data = draw("xor", noise=0.3)
    assert (np.abs(data.points) >= 0.3).all()
    disagree = data.targets != (data.points[:, 0] * data.points[:, 1] >= 0)
    assert 0 < disagree.mean() < 0.5


def test_spiral_noise_moves_points_off_the_curve():
    clean, noisy = draw("spiral"), draw("spiral", noise=0.3)
    radii = np.hypot(noisy.points[:, 0], noisy.points[:, 1])
    n_arm = 1000
    index = np.rint(radii * n_arm / 5.0)
    angle = 1.75 * index / n_arm * 2 * np.pi + np.where(noisy.targets == 1, 0.0, np.pi)
    on_curve = np.column_stack([5.0 * index / n_arm * np.sin(angle),
                                5.0 * index / n_arm * np.cos(angle)])
    off = np.hypot(*(noisy.points - on_curve).T)
    assert (off > 1e-3).mean() > 0.5
    # Noise is uniform(-1, 1) * noise on each coordinate, so labels are untouched.
    assert np.array_equal(np.sort(clean.targets), np.sort(noisy.targets))


@pytest.mark.parametrize("kind", REGRESSORS)
def test_regression_noise_changes_targets_not_point_range(kind):
    clean, noisy = draw(kind, seed=3), draw(kind, seed=3, noise=0.5)
    assert (np.abs(noisy.points) <= 6.0).all()
    if kind == "plane":
        residual = noisy.targets - noisy.points.sum(axis=1) / 10.0
        assert np.abs(residual).max() > 0.1
        assert np.abs(residual).max() <= 2 * 6.0 * 0.5 / 10.0 + 1e-12
    else:
        expected = [_multigauss_reference(x, y) for x, y in noisy.points]
        assert not np.allclose(noisy.targets, expected)
    assert not np.array_equal(clean.targets, noisy.targets)


# --- determinism ---------------------------------------------------------------

@pytest.mark.parametrize("kind", list(GENERATORS))
def test_same_spec_is_bit_identical_and_seed_matters(kind):
    first, again = draw(kind, n_samples=300, noise=0.1, seed=7), draw(kind, n_samples=300, noise=0.1, seed=7)
    for field in ("points", "features", "targets"):
        assert np.array_equal(getattr(first, field), getattr(again, field))
    other = draw(kind, n_samples=300, noise=0.1, seed=8)
    assert not np.array_equal(first.points, other.points)


# --- feature expansion ---------------------------------------------------------

def test_expand_features_values_and_order():
    points = np.array([[1.0, 2.0], [-0.5, 3.0], [0.0, -1.5]])
    x1, x2 = points.T
    names = ["sin(x2)", "x1*x2", "x1", "x2^2", "x1^2", "sin(x1)", "x2"]
    expanded = expand_features(points, names)
    expected = np.column_stack([np.sin(x2), x1 * x2, x1, x2**2, x1**2, np.sin(x1), x2])
    assert expanded.shape == (3, 7) and expanded.dtype == np.float64
    np.testing.assert_array_equal(expanded, expected)


def test_generate_uses_requested_feature_order():
    data = draw("xor", n_samples=50, features=["x1*x2", "x2", "sin(x1)"])
    x1, x2 = data.points.T
    np.testing.assert_array_equal(data.features, np.column_stack([x1 * x2, x2, np.sin(x1)]))


def test_default_features_are_raw_coordinates():
    data = generate(GeneratorSpec(kind="circle", n_samples=20))
    assert data.feature_names == ("x1", "x2")
    np.testing.assert_array_equal(data.features, data.points)


# --- spec validation -----------------------------------------------------------

@pytest.mark.parametrize(("overrides", "field"), [
    ({"kind": "moons"}, "kind"),
    ({"noise": -0.1}, "noise"),
    ({"noise": 1.5}, "noise"),
    ({"n_samples": 1}, "n_samples"),
    ({"n_samples": 100_001}, "n_samples"),
    ({"seed": -1}, "seed"),
    ({"features": []}, "features"),
    ({"features": ["x1", "x3"]}, "features"),
    ({"features": ["x1", "x2", "x1"]}, "features"),
    ({"colour": "red"}, "colour"),
])
def test_spec_rejects_bad_fields(overrides, field):
    with pytest.raises(ValidationError) as caught:
        GeneratorSpec(**{"kind": "circle", **overrides})
    assert {error["loc"][0] for error in caught.value.errors()} == {field}


def test_duplicate_feature_error_names_the_duplicate():
    with pytest.raises(ValidationError, match=r"duplicate feature\(s\): x1\*x2"):
        GeneratorSpec(kind="xor", features=["x1*x2", "x1", "x1*x2"])


def test_spec_defaults_and_schema():
    spec = GeneratorSpec(kind="spiral")
    assert (spec.n_samples, spec.noise, spec.seed, spec.features) == (500, 0.0, 0, ["x1", "x2"])
    schema = GeneratorSpec.model_json_schema()
    assert set(schema["properties"]["kind"]["enum"]) == set(GENERATORS)
    assert all(schema["properties"][name].get("description") for name in schema["properties"])
