"""sleap-nn's small trained models and videos, for the tests and the
benchmark that run sleap-nn's own Predictor: its source distribution on the
package index ships them under tests/assets. They are fetched with pip once
and cached in IDMATCH_SLEAP_NN_ASSETS, else .sleap-nn-assets/ in the current
folder.

Also the one comparison of two sleap-nn Labels that both use.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

SLEAP_NN_VERSION = "0.3.5"


def assets_dir() -> pathlib.Path:
    """sleap-nn's tests/assets folder (model_ckpts/, datasets/), fetched on
    first use. Raises RuntimeError when pip cannot fetch it."""
    cache = pathlib.Path(os.environ.get("IDMATCH_SLEAP_NN_ASSETS", ".sleap-nn-assets")).resolve()
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
            raise RuntimeError(f"could not fetch sleap-nn's source distribution:\n{result.stdout}\n{result.stderr}")
        (archive,) = pathlib.Path(download).glob("sleap_nn-*.tar.gz")
        prefix = f"sleap_nn-{SLEAP_NN_VERSION}/tests/assets/"
        # Staged next to the cache, so that the final rename stays on one
        # file system; a folder left by an interrupted fetch is replaced.
        assets.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=assets.parent) as staging:
            with tarfile.open(archive) as tar:
                members = [m for m in tar.getmembers() if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
                for member in members:
                    member.name = "assets/" + member.name[len(prefix) :]
                # The "data" filter (Python 3.12, and the 3.9-3.11 security
                # releases) refuses links and paths out of the folder.
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(staging, members=members, **safe)
            if assets.exists():
                shutil.rmtree(assets)
            pathlib.Path(staging, "assets").rename(assets)
    return assets


def labels_summary(labels) -> list:
    """Everything a sleap-nn Predictor decided, frame by frame and instance by
    instance: points and their scores, the instance score, the track and its
    score, and the identity where the model assigns one."""
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


def _same(a, b) -> bool:
    """Equal, or both NaN."""
    return bool(a == b) or (a != a and b != b)


def labels_difference(actual, expected):
    """None when two Labels hold the same predictions (NaN equal to NaN),
    else where they first differ."""
    actual, expected = labels_summary(actual), labels_summary(expected)
    if [f for f, _ in actual] != [f for f, _ in expected]:
        return "different frames"
    for (frame, a_instances), (_, e_instances) in zip(actual, expected):
        if len(a_instances) != len(e_instances):
            return f"frame {frame}: {len(a_instances)} instances, expected {len(e_instances)}"
        for i, (a, e) in enumerate(zip(a_instances, e_instances)):
            if not np.array_equal(a[0], e[0], equal_nan=True):
                return f"frame {frame}, instance {i}: points differ"
            if not np.array_equal(a[1], e[1], equal_nan=True):
                return f"frame {frame}, instance {i}: point scores differ"
            if not all(_same(x, y) for x, y in zip(a[2:], e[2:])):
                return f"frame {frame}, instance {i}: {a[2:]} != {e[2:]}"
    return None
