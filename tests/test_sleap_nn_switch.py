"""idmatch.sleap_nn's switch against the real sleap-nn: what enable() replaces
and disable() restores, the forms sleap-nn's callers receive, the refusal of
an unknown sleap-nn, and the command line.

Runs where sleap-nn is installed (make sleap-check).
"""

import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("sleap_nn")

import idmatch.sleap_nn as switch  # noqa: E402
from sleap_nn_support import REPO, assert_same_tensor  # noqa: E402

IDENTITY_NAMES = ("group_class_peaks", "classify_peaks_from_maps", "get_class_inds_from_vectors")
PAF_NAMES = ("match_candidates_sample", "match_candidates_batch")
# The sleap-nn 0.3.5 modules that import those names at import time.
CONSUMERS = {
    "sleap_nn.inference.ops.identity": IDENTITY_NAMES,
    "sleap_nn.inference.identity": IDENTITY_NAMES,
    "sleap_nn.inference.layers.bottomup_multiclass": ("classify_peaks_from_maps",),
    "sleap_nn.inference.layers.topdown_multiclass": ("get_class_inds_from_vectors",),
    "sleap_nn.inference.bottomup": ("classify_peaks_from_maps",),
    "sleap_nn.inference.topdown": ("get_class_inds_from_vectors",),
    "sleap_nn.inference.ops.paf": PAF_NAMES,
    "sleap_nn.inference.paf_grouping": PAF_NAMES,
}


@pytest.fixture(autouse=True)
def always_disabled_after():
    yield
    switch.disable()


def originals():
    identity = importlib.import_module("sleap_nn.inference.ops.identity")
    paf = importlib.import_module("sleap_nn.inference.ops.paf")
    return {name: getattr(identity, name) for name in IDENTITY_NAMES} | {name: getattr(paf, name) for name in PAF_NAMES}


def test_enable_replaces_every_import_and_disable_restores():
    own = originals()
    modules = {name: importlib.import_module(name) for name in CONSUMERS}
    exported = importlib.import_module("sleap_nn.inference.layers.exported")
    predicts = {name: getattr(exported, name).predict for name in switch._ADAPTERS}

    switch.enable()
    assert switch.is_enabled()
    for module_name, names in CONSUMERS.items():
        for name in names:
            assert getattr(modules[module_name], name) is getattr(switch, name), f"{module_name}.{name}"
    for name in switch._ADAPTERS:
        assert getattr(exported, name).predict is not predicts[name]

    switch.disable()
    assert not switch.is_enabled()
    for module_name, names in CONSUMERS.items():
        for name in names:
            assert getattr(modules[module_name], name) is own[name], f"{module_name}.{name} not restored"
    for name in switch._ADAPTERS:
        assert getattr(exported, name).predict is predicts[name]


def test_module_imported_while_enabled_is_restored():
    # A consumer first imported while idmatch is enabled reads idmatch's
    # function from its source; disable() must still find and restore it.
    own = originals()
    name = "sleap_nn.inference.identity"
    saved = sys.modules.pop(name)
    try:
        switch.enable()
        fresh = importlib.import_module(name)
        assert fresh.group_class_peaks is switch.group_class_peaks
        switch.disable()
        assert fresh.group_class_peaks is own["group_class_peaks"]
    finally:
        sys.modules[name] = saved


def test_enabled_context_nests():
    with switch.enabled():
        with switch.enabled():
            assert switch.is_enabled()
        assert switch.is_enabled(), "the inner block disabled what the outer one enabled"
    assert not switch.is_enabled()
    switch.enable()
    with switch.enabled():
        pass
    assert switch.is_enabled(), "a block disabled a switch it found on"


def test_import_idmatch_does_not_import_sleap_nn():
    code = "import sys, idmatch, idmatch.sleap_nn; assert 'sleap_nn' not in sys.modules, 'imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unknown_version_refused(monkeypatch):
    import sleap_nn

    monkeypatch.setattr(sleap_nn, "__version__", "0.9.0")
    with pytest.raises(switch.UnsupportedSleapNN, match=r"supports sleap-nn 0\.3\.5, found 0\.9\.0"):
        switch.enable()
    assert not switch.is_enabled()


def test_unknown_layout_refused(monkeypatch):
    identity = importlib.import_module("sleap_nn.inference.ops.identity")
    monkeypatch.setattr(identity, "group_class_peaks", lambda probs, samples, channels: None)
    with pytest.raises(switch.UnsupportedSleapNN, match="group_class_peaks takes"):
        switch.enable()
    assert not switch.is_enabled()


def random_identity_case(rng):
    n_samples, n_channels, n_classes = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
    n_peaks = int(rng.integers(0, 16))
    height, width = 12, 10
    class_maps = torch.from_numpy(rng.choice([0.0, 0.25, 0.5, 1.0], (n_samples, n_classes, height, width))).float()
    points = torch.from_numpy(rng.uniform(-1, 11, (n_peaks, 2))).float()
    vals = torch.from_numpy(rng.uniform(0, 1, n_peaks)).float()
    samples = torch.from_numpy(rng.integers(0, n_samples, n_peaks)).int()
    channels = torch.from_numpy(rng.integers(0, n_channels, n_peaks)).int()
    return class_maps, points, vals, samples, channels, n_samples, n_channels


@pytest.mark.parametrize("seed", range(40))
def test_identity_functions_give_sleap_nn_forms(seed):
    """Outputs of the replaced functions equal sleap-nn's own: values, ties,
    dtypes, devices (get_class_inds_from_vectors answers on the CPU)."""
    own = originals()
    rng = np.random.default_rng(seed)
    class_maps, points, vals, samples, channels, n_samples, n_channels = random_identity_case(rng)
    # sleap-nn's classify_peaks_from_maps takes float32 only (its index_put
    # into float32 outputs refuses other dtypes).
    args = (class_maps, points, vals, samples, channels, n_channels)
    expected = own["classify_peaks_from_maps"](*args)
    actual = switch.classify_peaks_from_maps(*args)
    for what, a, e in zip(("points", "point_vals", "class_probs"), actual, expected):
        assert_same_tensor(a, e, f"classify_peaks_from_maps {what}")
    for dtype in (torch.float32, torch.float64):
        probs = torch.from_numpy(rng.choice([0.0, 0.5, 1.0], (len(samples), class_maps.shape[1]))).to(dtype)
        expected = own["group_class_peaks"](probs, samples, channels, n_samples, n_channels)
        actual = switch.group_class_peaks(probs, samples, channels, n_samples, n_channels)
        for what, a, e in zip(("peak_inds", "class_inds"), actual, expected):
            assert_same_tensor(a, e, f"group_class_peaks {what}, {dtype}")
        expected = own["get_class_inds_from_vectors"](probs)
        actual = switch.get_class_inds_from_vectors(probs)
        for what, a, e in zip(("class_inds", "class_probs"), actual, expected):
            assert_same_tensor(a, e, f"get_class_inds_from_vectors {what}, {dtype}")


def count_cpu_calls(monkeypatch, has_kernels: bool) -> list:
    """Makes idmatch.sleap_nn see every device as having idmatch kernels or
    not, and counts the tensors moved with .cpu() from then on."""
    moved = []
    real_cpu = torch.Tensor.cpu

    def counting_cpu(self, *args, **kwargs):
        moved.append(1)
        return real_cpu(self, *args, **kwargs)

    monkeypatch.setattr(switch, "_has_kernels", lambda device: has_kernels)
    monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
    return moved


def moves_before(monkeypatch, module, name: str, moved: list) -> list:
    """Wraps module.name to record how many tensors had been moved to the
    CPU when it was called."""
    function = getattr(module, name)
    seen = []

    def recording(*args, **kwargs):
        seen.append(len(moved))
        return function(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return seen


@pytest.mark.parametrize("has_kernels", [True, False], ids=["kernels", "no-kernels"])
def test_device_without_kernels_goes_through_cpu(monkeypatch, has_kernels):
    """A device without idmatch kernels (MPS) is served by the CPU kernels;
    here the CPU plays that device, with the device check made to answer
    no, and the moves to the CPU before idmatch's functions run are
    counted."""
    import idmatch.identity
    import idmatch.paf

    own = originals()
    probs = torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.5, 0.5]])
    samples, channels = torch.tensor([0, 0, 1]), torch.tensor([1, 1, 0])
    edges, peaks, scores = torch.tensor([0, 0], dtype=torch.int32), torch.tensor([[0, 0], [1, 0]]), probs[:2, 0]
    expected_groups = own["group_class_peaks"](probs, samples, channels, 2, 2)
    expected_paf = own["match_candidates_batch"]([edges], [peaks], [scores], 1)

    moved = count_cpu_calls(monkeypatch, has_kernels)
    seen = moves_before(monkeypatch, idmatch.identity, "group_class_peaks", moved)
    actual = switch.group_class_peaks(probs, samples, channels, 2, 2)
    assert seen == [0 if has_kernels else 3], "inputs moved to the CPU before matching"
    for what, a, e in zip(("peak_inds", "class_inds"), actual, expected_groups):
        assert_same_tensor(a, e, what)

    moved.clear()
    seen = moves_before(monkeypatch, idmatch.paf, "match_candidates_batch", moved)
    actual = switch.match_candidates_batch([edges], [peaks], [scores], 1)
    assert seen == [0 if has_kernels else 3], "PAF inputs moved to the CPU before matching"
    for what, a, e in zip(("edge_inds", "src", "dst", "scores"), actual, expected_paf):
        assert_same_tensor(a[0], e[0], what)


def test_failed_enable_changes_nothing(monkeypatch):
    """A layout check that fails after the version check leaves sleap-nn as
    it was."""
    own = originals()
    exported = importlib.import_module("sleap_nn.inference.layers.exported")
    monkeypatch.delattr(exported.ExportedTopDownMultiClassLayer, "predict")
    with pytest.raises(switch.UnsupportedSleapNN, match="ExportedTopDownMultiClassLayer.predict"):
        switch.enable()
    assert not switch.is_enabled()
    identity = importlib.import_module("sleap_nn.inference.identity")
    assert identity.group_class_peaks is own["group_class_peaks"]


def run_idmatch_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "idmatch", "sleap-nn", *args], capture_output=True, text=True, cwd=REPO, timeout=600
    )


def test_cli_passes_through_sleap_nn_help():
    result = run_idmatch_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "track" in result.stdout and "Usage: sleap-nn" in result.stdout, result.stdout


def test_cli_reports_sleap_nn_usage_errors():
    result = run_idmatch_cli("no-such-command")
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "No such command" in result.stderr
