"""`python -m idmatch demo`: arguments, outputs, and clear failures."""

import importlib.util

import pytest
import torch

from conftest import run_child
from idmatch import demo
from idmatch.__main__ import main

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def test_packaged_scene_runs_and_matches_the_reference(tmp_path, capsys):
    picture = tmp_path / "demo.png"
    assert main(["demo", "--output", str(picture)]) == 0
    out = capsys.readouterr().out
    assert "the packaged sample scene" in out
    assert "reference check (per-group scipy loop): identical" in out
    assert "frame  identity" in out and "node 4" in out
    if HAS_MATPLOTLIB:
        assert picture.stat().st_size > 10_000
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "pip install matplotlib" in out and not picture.exists()


def test_packaged_scene_has_the_hard_cases():
    scene, _ = demo.load_scene(None, None)
    assert scene["class_maps"].dtype == torch.float16
    # Two animals side by side: some peaks of different animals in one frame
    # and node lie within a few pixels.
    same_group = (scene["peak_sample_inds"][:, None] == scene["peak_sample_inds"][None]) & (
        scene["peak_channel_inds"][:, None] == scene["peak_channel_inds"][None]
    )
    other_animal = scene["true_identity"][:, None] != scene["true_identity"][None]
    distance = torch.cdist(scene["peak_points"], scene["peak_points"])
    assert bool(((distance < 6) & same_group & other_animal).any())
    # An ambiguous animal: its class probabilities stay well below 1.
    probs = demo.idmatch.sample_class_maps(scene["class_maps"], scene["peak_points"], scene["peak_sample_inds"])
    weak = scene["true_identity"] == scene["class_maps"].shape[1] - 1
    assert float(probs[weak].float().max(dim=1).values.mean()) < 0.85


@pytest.mark.parametrize("size", ["small", "medium"])
def test_new_scenes_by_seed_and_size(tmp_path, capsys, size):
    assert main(["demo", "--seed", "3", "--size", size, "--output", str(tmp_path / "x.png")]) == 0
    out = capsys.readouterr().out
    assert f"a {size} synthetic scene, seed 3" in out and "identical" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["demo", "--size", "huge"], "invalid choice"),
        (["demo", "--seed", "x"], "invalid int value"),
        (["demo", "--device", "nonsense"], "--device"),
        (["demo", "--device", "meta"], "--device must be cpu or cuda"),
    ]
    + ([] if torch.cuda.is_available() else [(["demo", "--device", "cuda"], "CUDA is not available")]),
)
def test_bad_arguments_fail_clearly(arguments, message):
    result = run_child("-m", "idmatch", *arguments)
    assert result.returncode == 2
    assert message in result.stderr
