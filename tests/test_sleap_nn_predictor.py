"""sleap-nn's own Predictor on its own trained models and video: the Labels it
makes with idmatch enabled are identical to those it makes without.

Runs where sleap-nn is installed (make sleap-check); the checkpoints and the
video come from sleap-nn's source distribution (tests/sleap_nn_support.py).
"""

import importlib

import pytest

pytest.importorskip("sleap_nn")

import idmatch  # noqa: E402
from sleap_nn_support import assert_same_labels, assets_dir  # noqa: E402

# model folders under tests/assets/model_ckpts, Predictor options, and the
# idmatch function each model's inference must go through.
MODELS = {
    "bottomup_multiclass": (
        ["minimal_instance_multiclass_bottomup"],
        dict(peak_threshold=0.05),
        ("idmatch.identity", "classify_peaks_from_maps"),
    ),
    "topdown_multiclass": (
        ["minimal_instance_centroid", "minimal_instance_multiclass_centered_instance"],
        dict(peak_threshold=0.03, max_instances=6),
        ("idmatch.identity", "get_class_inds_from_vectors"),
    ),
    "bottomup_paf": (
        ["minimal_instance_bottomup"],
        dict(peak_threshold=0.05),
        ("idmatch.paf", "match_candidates_batch"),
    ),
}
N_FRAMES = 12
BATCH_SIZE = 4


def predict(model_dirs, options):
    import sleap_io as sio
    from sleap_nn.inference.predictor import Predictor
    from sleap_nn.inference.providers import VideoProvider

    assets = assets_dir()
    predictor = Predictor.from_model_paths(
        [str(assets / "model_ckpts" / name) for name in model_dirs], device="cpu", batch_size=BATCH_SIZE, **options
    )
    video = sio.load_video(str(assets / "datasets" / "centered_pair_small.mp4"))
    provider = VideoProvider(video=video, batch_size=BATCH_SIZE, frames=list(range(N_FRAMES)))
    return predictor.predict(provider, make_labels=True, videos=[video])


@pytest.mark.parametrize("model", list(MODELS))
def test_predictor_labels_identical(model, monkeypatch):
    model_dirs, options, (module_name, function_name) = MODELS[model]
    expected = predict(model_dirs, options)
    assert not idmatch.sleap_nn.is_enabled()

    # Count the calls into idmatch, to be sure the Labels came from it.
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)

    monkeypatch.setattr(module, function_name, counted)
    with idmatch.sleap_nn.enabled():
        actual = predict(model_dirs, options)
    assert not idmatch.sleap_nn.is_enabled()
    assert calls, f"sleap-nn's {model} inference never called idmatch's {function_name}"
    instances = sum(len(frame.instances) for frame in expected.labeled_frames)
    assert instances > 0, f"{model}: sleap-nn found no instance, the comparison would be empty"
    assert_same_labels(actual, expected, model)


CLI_CHILD = """
import sys
import idmatch.identity
from idmatch.__main__ import main

calls = []
real = idmatch.identity.classify_peaks_from_maps

def counted(*args, **kwargs):
    calls.append(1)
    return real(*args, **kwargs)

idmatch.identity.classify_peaks_from_maps = counted
code = main(sys.argv[1:])
print(f"idmatch calls: {len(calls)}")
sys.exit(code)
"""


def test_cli_predict_identical(tmp_path):
    """python -m idmatch sleap-nn predict ... writes the Labels that
    sleap-nn predict ... writes, through idmatch."""
    import subprocess
    import sys

    import sleap_io as sio

    assets = assets_dir()
    arguments = ["predict", "-i", str(assets / "datasets" / "centered_pair_small.mp4")]
    arguments += ["-m", str(assets / "model_ckpts" / "minimal_instance_multiclass_bottomup")]
    arguments += ["--frames", "0-7", "--device", "cpu", "-b", "4", "--peak_threshold", "0.05"]
    ours = subprocess.run(
        [sys.executable, "-c", CLI_CHILD, "sleap-nn", *arguments, "-o", str(tmp_path / "ours.slp")],
        capture_output=True,
        text=True,
    )
    assert ours.returncode == 0, ours.stderr[-3000:]
    assert "idmatch calls: 0" not in ours.stdout and "idmatch calls:" in ours.stdout, ours.stdout[-2000:]
    theirs = subprocess.run(
        [sys.executable, "-c", "import sys; from sleap_nn.cli import cli; sys.exit(cli())", *arguments]
        + ["-o", str(tmp_path / "theirs.slp")],
        capture_output=True,
        text=True,
    )
    assert theirs.returncode == 0, theirs.stderr[-3000:]
    assert_same_labels(sio.load_slp(str(tmp_path / "ours.slp")), sio.load_slp(str(tmp_path / "theirs.slp")), "CLI")
