"""What the tests against the real sleap-nn share: its trained checkpoints and
videos (idmatch._sleap_nn_examples fetches them once from its source
distribution) and comparisons of its outputs."""

import os
import pathlib

import numpy as np
import pytest
import torch

from idmatch import _sleap_nn_examples

REPO = pathlib.Path(__file__).resolve().parents[1]


def assets_dir() -> pathlib.Path:
    """sleap-nn's tests/assets, cached in IDMATCH_SLEAP_NN_ASSETS, else in
    .sleap-nn-assets/ at the top of the checkout."""
    os.environ.setdefault("IDMATCH_SLEAP_NN_ASSETS", str(REPO / ".sleap-nn-assets"))
    try:
        return _sleap_nn_examples.assets_dir()
    except RuntimeError as error:
        pytest.fail(str(error))


def assert_same_outputs(actual, expected, what: str) -> None:
    """Two sleap-nn Outputs (or any attrs objects of tensors) hold the same
    fields: the same tensors (dtype, shape, values, NaN where NaN) or None."""
    import attrs

    for field in attrs.fields(type(expected)):
        a, e = getattr(actual, field.name), getattr(expected, field.name)
        if e is None or a is None:
            assert a is None and e is None, f"{what}: {field.name} is {a!r}, sleap-nn's is {e!r}"
            continue
        assert_same_tensor(a, e, f"{what}: {field.name}")


def assert_same_tensor(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, sleap-nn's {expected.dtype}"
    assert actual.device == expected.device, f"{what}: device {actual.device}, sleap-nn's {expected.device}"
    assert actual.shape == expected.shape, f"{what}: shape {list(actual.shape)}, sleap-nn's {list(expected.shape)}"
    np.testing.assert_array_equal(actual.numpy(), expected.numpy(), err_msg=what)


def assert_same_labels(actual, expected, what: str) -> None:
    difference = _sleap_nn_examples.labels_difference(actual, expected)
    assert difference is None, f"{what}: {difference}"
