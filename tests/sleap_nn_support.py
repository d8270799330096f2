"""What the tests against the real sleap-nn share: its trained checkpoints and
videos, which its source distribution on the package index ships under
tests/assets, fetched once and cached; and comparisons of its outputs.

The cache folder is IDMATCH_SLEAP_NN_ASSETS, else .sleap-nn-assets/ at the
top of the checkout (git-ignored).
"""

import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
import pytest
import torch

SLEAP_NN_VERSION = "0.3.5"
REPO = pathlib.Path(__file__).resolve().parents[1]


def assets_dir() -> pathlib.Path:
    """The sleap-nn source distribution's tests/assets folder, fetched with
    pip from the package index on first use."""
    cache = pathlib.Path(os.environ.get("IDMATCH_SLEAP_NN_ASSETS", REPO / ".sleap-nn-assets"))
    assets = cache / f"sleap_nn-{SLEAP_NN_VERSION}" / "assets"
    if (assets / "model_ckpts").is_dir():
        return assets
    with tempfile.TemporaryDirectory() as download:
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
            + ["-d", download, f"sleap-nn=={SLEAP_NN_VERSION}"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.fail(f"could not fetch sleap-nn's source distribution:\n{result.stdout}\n{result.stderr}")
        (archive,) = pathlib.Path(download).glob("sleap_nn-*.tar.gz")
        prefix = f"sleap_nn-{SLEAP_NN_VERSION}/tests/assets/"
        staging = cache / "staging"
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
            for member in members:
                member.name = "assets/" + member.name[len(prefix) :]
            tar.extractall(staging, members=members, filter="data")
        assets.parent.mkdir(parents=True, exist_ok=True)
        (staging / "assets").rename(assets)
        staging.rmdir()
    return assets


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


def labels_summary(labels) -> list:
    """Everything a sleap-nn Predictor decided, frame by frame and instance by
    instance: points and their scores, the instance score, track and
    tracking score, and the identity where the model assigns one."""
    frames = []
    for frame in sorted(labels.labeled_frames, key=lambda f: f.frame_idx):
        instances = []
        for instance in frame.instances:
            identity = getattr(instance, "identity", None)
            instances.append(
                (
                    np.asarray(instance.points["xy"]),
                    np.asarray(instance.points["score"]),
                    instance.score,
                    instance.track.name if instance.track is not None else None,
                    instance.tracking_score,
                    identity.name if identity is not None else None,
                    instance.identity_score,
                )
            )
        frames.append((frame.frame_idx, instances))
    return frames


def assert_same_labels(actual, expected, what: str) -> None:
    actual, expected = labels_summary(actual), labels_summary(expected)
    assert [f for f, _ in actual] == [f for f, _ in expected], f"{what}: different frames"
    for (frame, a_instances), (_, e_instances) in zip(actual, expected):
        assert len(a_instances) == len(e_instances), f"{what}, frame {frame}: instance counts differ"
        for i, (a, e) in enumerate(zip(a_instances, e_instances)):
            np.testing.assert_array_equal(a[0], e[0], err_msg=f"{what}, frame {frame}, instance {i}: points")
            np.testing.assert_array_equal(a[1], e[1], err_msg=f"{what}, frame {frame}, instance {i}: point scores")
            assert a[2:] == e[2:], f"{what}, frame {frame}, instance {i}: {a[2:]} != sleap-nn's {e[2:]}"
