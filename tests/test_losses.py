"""Weighted L1 values, channel orders, serialization; the learning-rate schedule."""

import keras
import numpy as np
import pytest

from gladnet_tf import losses


def test_weighted_l1_value_by_channel():
    target = np.zeros((2, 3, 4, 3), np.float32)
    output = target.copy()
    output[..., 0] = 1.0  # error only in red
    paper = float(losses.WeightedL1()(target, output))
    original = float(losses.WeightedL1(losses.ORIGINAL_CODE_WEIGHTS)(target, output))
    np.testing.assert_allclose(paper, 0.29891 / 3, rtol=1e-6)  # mean over the 3 channels too
    np.testing.assert_allclose(original, 0.11448 / 3, rtol=1e-6)  # the original's BGR slip


def test_matches_the_original_formula_on_random_data():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 5, 6, 3), dtype=np.float32), rng.random((2, 5, 6, 3), dtype=np.float32) * 1.2
    weights = np.array(losses.PAPER_WEIGHTS, np.float32)
    np.testing.assert_allclose(float(losses.WeightedL1()(a, b)), np.mean(np.abs(b - a) * weights), rtol=1e-5)


def test_per_example_reduction_none():
    a = np.zeros((3, 2, 2, 3), np.float32)
    b = np.stack([np.full((2, 2, 3), v, np.float32) for v in (0.0, 1.0, 2.0)])
    values = losses.WeightedL1(reduction="none")(a, b).numpy()
    np.testing.assert_allclose(values, np.array([0, 1, 2]) * sum(losses.PAPER_WEIGHTS) / 3, rtol=1e-6)


def test_serialization_round_trip():
    loss = losses.WeightedL1(losses.ORIGINAL_CODE_WEIGHTS, name="l1o")
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(restored, losses.WeightedL1)
    assert restored.weights == list(losses.ORIGINAL_CODE_WEIGHTS) and restored.name == "l1o"


def test_channel_weights_lookup():
    assert losses.channel_weights("paper") == (0.29891, 0.58661, 0.11448)
    assert losses.channel_weights("original") == (0.11448, 0.58661, 0.29891)
    with pytest.raises(ValueError, match="paper"):
        losses.channel_weights("bgr")
    with pytest.raises(ValueError, match="3 channel weights"):
        losses.WeightedL1((1.0, 2.0))


def test_original_schedule_is_smooth_exponential_decay():
    schedule = losses.original_schedule()
    np.testing.assert_allclose(float(schedule(0)), 1e-3, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(100)), 9.6e-4, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(50)), 1e-3 * 0.96**0.5, rtol=1e-6)  # not staircase
    np.testing.assert_allclose(float(schedule(600)), 7.8276e-4, rtol=1e-4)  # the surrogate run's final lr
