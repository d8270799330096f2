"""Deployment routes: TorchScript (saved, then loaded in a fresh process),
torch.compile(fullgraph=True), torch.export, and the loader's torch check."""

import textwrap

import pytest
import torch

import idmatch
from conftest import assert_child_ok, assert_identical, run_child


def scene(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    class_maps = torch.softmax(torch.randn(3, 4, 12, 10, generator=generator), dim=1)
    class_maps[0, :, :2] = 0.25  # tied probabilities
    n_peaks = 30
    peak_points = torch.rand(n_peaks, 2, generator=generator) * torch.tensor([10.0, 12.0]) - 0.5
    peak_points[:4] = torch.tensor([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [1.5, 1.5]])  # half-to-even, tied maps
    peak_vals = torch.rand(n_peaks, generator=generator)
    sample_inds = torch.randint(0, 3, (n_peaks,), generator=generator)
    sample_inds[:4] = 0
    channel_inds = torch.randint(0, 5, (n_peaks,), generator=generator)
    return class_maps, peak_points, peak_vals, sample_inds, channel_inds


class IdentityModel(torch.nn.Module):
    """Calls the scriptable Python API and the raw ops directly."""

    def forward(
        self,
        class_maps: torch.Tensor,
        peak_points: torch.Tensor,
        peak_vals: torch.Tensor,
        sample_inds: torch.Tensor,
        channel_inds: torch.Tensor,
        vectors: torch.Tensor,
        costs: torch.Tensor,
    ):
        points, point_vals, class_probs = idmatch.classify_peaks_from_maps(
            class_maps, peak_points, peak_vals, sample_inds, channel_inds, 5
        )
        class_inds, vector_probs = idmatch.get_class_inds_from_vectors(vectors)
        col_for_row = idmatch.batch_linear_sum_assignment(costs)
        raw = torch.ops.idmatch.classify_peaks_from_maps(
            class_maps, peak_points, peak_vals, sample_inds, channel_inds, 5
        )
        probs = torch.ops.idmatch.sample_class_maps(class_maps, peak_points, sample_inds)
        matched, _ = torch.ops.idmatch.match_peaks_to_classes(probs, sample_inds, channel_inds, 3, 5)
        return points, point_vals, class_probs, class_inds, vector_probs, col_for_row, raw[3], matched


def model_inputs():
    generator = torch.Generator().manual_seed(1)
    vectors = torch.softmax(torch.randn(6, 4, generator=generator), dim=1)
    costs = torch.randint(0, 3, (8, 5, 7), generator=generator).float()  # tie-heavy
    return (*scene(), vectors, costs)


def assert_same(actual, expected):
    assert len(actual) == len(expected)
    for k, (a, e) in enumerate(zip(actual, expected)):
        assert_identical(a, e, f"output {k}")


def test_scripted_model_saved_and_loaded_in_a_fresh_process(tmp_path):
    inputs = model_inputs()
    expected = IdentityModel()(*inputs)
    scripted = torch.jit.script(IdentityModel())
    assert_same(scripted(*inputs), expected)
    model_path = tmp_path / "model.pt"
    scripted.save(str(model_path))
    torch.save(inputs, tmp_path / "inputs.pt")
    # The fresh process imports idmatch (which registers the ops) and nothing
    # of this test module; it saves the loaded model's outputs for this one
    # to compare.
    script = textwrap.dedent(f"""
        import torch, idmatch
        model = torch.jit.load({str(model_path)!r})
        inputs = torch.load({str(tmp_path / "inputs.pt")!r})
        torch.save(model(*inputs), {str(tmp_path / "out.pt")!r})
    """)
    assert_child_ok(run_child("-c", script, cwd=tmp_path), "loading the scripted model")
    assert_same(torch.load(tmp_path / "out.pt"), expected)


@pytest.mark.parametrize("name", sorted(set(idmatch.__all__) - {"PeakCode", "Status", "linear_sum_assignment"}))
def test_public_functions_script(name):
    """Every public function compiles with torch.jit.script, but
    linear_sum_assignment, which takes numpy arrays and lists as scipy does."""
    torch.jit.script(getattr(idmatch, name))


def test_scripted_functions_raise_on_bad_values():
    scripted = torch.jit.script(idmatch.classify_peaks_from_maps)
    class_maps, peak_points, peak_vals, sample_inds, channel_inds = scene()
    bad_samples = sample_inds.clone()
    bad_samples[3] = 7
    # TorchScript wraps Python exceptions; the message still names the argument.
    with pytest.raises(Exception, match="peak_sample_inds\\[3\\]"):
        scripted(class_maps, peak_points, peak_vals, bad_samples, channel_inds, 5)


@pytest.mark.parametrize("dynamic", [False, True])
def test_compile_fullgraph_matches_eager(dynamic):
    torch._dynamo.reset()
    inputs = model_inputs()
    model = IdentityModel()
    compiled = torch.compile(model, fullgraph=True, dynamic=dynamic)
    assert_same(compiled(*inputs), model(*inputs))
    # Other sizes run through the same compiled function.
    generator = torch.Generator().manual_seed(2)
    class_maps, peak_points, peak_vals, sample_inds, channel_inds, vectors, costs = inputs
    more = (
        class_maps,
        peak_points[:20],
        peak_vals[:20],
        sample_inds[:20],
        channel_inds[:20],
        torch.rand(9, 4, generator=generator),
        torch.rand(8, 5, 7, generator=generator),
    )
    assert_same(compiled(*more), model(*more))


def test_compile_raw_ops_keep_their_status_contract():
    """Under compilation the value checks are skipped: bad problems report
    through the raw ops' outputs instead of raising."""
    torch._dynamo.reset()
    solve = torch.compile(idmatch.batch_linear_sum_assignment, fullgraph=True)
    costs = torch.rand(3, 4, 4)
    costs[1, 0, 0] = float("nan")
    col_for_row = solve(costs)
    assert bool((col_for_row[1] == -1).all())
    assert torch.equal(col_for_row[0], idmatch.batch_linear_sum_assignment(costs[0]))


def test_export_matches_eager():
    inputs = model_inputs()
    model = IdentityModel()
    program = torch.export.export(model, inputs)
    assert_same(program.module()(*inputs), model(*inputs))
    names = {
        node.target.name()
        for node in program.graph.nodes
        if node.op == "call_function" and hasattr(node.target, "name")
    }
    assert {"idmatch::classify_peaks_from_maps", "idmatch::ragged_linear_sum_assignment"} <= names


def test_loader_refuses_a_different_torch(tmp_path):
    """A build for another torch minor release is refused with a clear
    message, before the library is loaded."""
    script = textwrap.dedent("""
        import sys, types
        config = types.ModuleType("idmatch._build_config")
        config.TORCH_VERSION = "1.0.0"
        config.WITH_CUDA = False
        config.CUDA_VERSION = None
        sys.modules["idmatch._build_config"] = config
        try:
            import idmatch
        except ImportError as error:
            print("refused:", error)
        else:
            print("loaded", idmatch.__file__)
    """)
    result = run_child("-c", script, cwd=tmp_path)
    assert "refused: idmatch was built against torch 1.0.0" in result.stdout, result.stdout + result.stderr
