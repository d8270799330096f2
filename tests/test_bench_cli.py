"""The benchmark's command line: parsing, a tiny real run, the workload
table and its error paths. Nothing here asserts on times."""

import json
import os
import sys

import numpy as np
import pytest

from conftest import run_child

pytest.importorskip("scipy")

from idmatch.__main__ import build_parser, main  # noqa: E402
from idmatch._cli import UsageError  # noqa: E402
from idmatch.bench import cli, runners, workloads  # noqa: E402


def _bench_args(*extra):
    return build_parser().parse_args(["bench", *extra])


def test_defaults():
    args = _bench_args()
    assert args.command == "bench"
    assert not args.quick
    assert args.workloads is None
    assert args.device == "cpu"
    assert args.repeats is None
    assert args.json is None and args.plot is None
    assert args.scale == 1.0


def test_all_options():
    args = _bench_args(
        "--quick",
        "--workloads",
        "L1,L4",
        "--device",
        "cuda",
        "--repeats",
        "4",
        "--json",
        "out.json",
        "--plot",
        "out.png",
        "--scale",
        "0.5",
        "--seed",
        "3",
    )
    assert args.quick
    assert args.workloads == "L1,L4"
    assert args.device == "cuda"
    assert args.repeats == 4
    assert (args.json, args.plot) == ("out.json", "out.png")
    assert args.scale == 0.5
    assert args.seed == 3


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["bench", "--repeats", "0"],
        ["bench", "--repeats", "two"],
        ["bench", "--device", "tpu"],
        ["bench", "--scale", "0"],
        ["bench", "--scale", "nan"],
        ["bench", "--no-such-flag"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_select_workloads():
    table = workloads.WORKLOADS
    assert cli.select_workloads(None, table) == list(table)
    assert cli.select_workloads("all", table) == list(table)
    assert cli.select_workloads(" l4, L1,L4 ,", table) == ["L4", "L1"]
    with pytest.raises(UsageError, match="unknown workload 'L9'; choose from L1"):
        cli.select_workloads("L1,L9", table)


def test_lsa_workloads_in_the_table():
    assert {"L1", "L2", "L3", "L4", "T"} <= set(workloads.WORKLOADS)


def test_unknown_workload_is_an_error(tmp_path):
    # Through `python -m`, as a user runs it.
    completed = run_child("-m", "idmatch", "bench", "--workloads", "L1,W99", cwd=tmp_path, timeout=300)
    assert completed.returncode == 2
    assert "unknown workload 'W99'" in completed.stderr
    assert "choose from L1" in completed.stderr
    assert not os.listdir(tmp_path)


def test_cuda_unavailable_is_an_error(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--device", "cuda", "--workloads", "L4"])
    assert exit_info.value.code == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_list(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("L1", "L2", "L3", "L4", "T"):
        assert f"\n{name} " in "\n" + out


def test_tiny_real_run_writes_json(tmp_path, capsys):
    path = tmp_path / "sub" / "bench.json"
    code = main(
        ["bench", "--quick", "--workloads", "L4,T,L2", "--scale", "0.05", "--repeats", "2", "--json", str(path)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(path.read_text())
    assert report["ok"] is True
    assert list(report["workloads"]) == ["L4", "T", "L2"]
    for key in ("cpu", "cores", "torch", "numpy", "scipy", "idmatch"):
        assert report["machine"][key]
    for name, workload in report["workloads"].items():
        runners = workload["runners"]
        assert {"idmatch", "scipy"} <= set(runners), name
        assert runners["idmatch"]["check"] == "exact", name
        assert runners["idmatch"]["ratio"] == 1.0
        for runner_name, entry in runners.items():
            assert entry["check"] in ("exact", "equivalent"), (name, runner_name, entry)
            assert len(entry["samples_ms"]) == 2
            assert entry["median_ms"] > 0
            assert entry["ratio"] > 0
    # The table names every workload and runner.
    for name, workload in report["workloads"].items():
        assert name in captured.out
        for runner_name in workload["runners"]:
            assert runner_name in captured.out
    assert "speed-up" in captured.out


def test_identity_workloads_in_the_table(capsys):
    assert {"W1", "W2", "W3", "W4"} <= set(workloads.WORKLOADS)
    assert main(["bench", "--list"]) == 0
    out = "\n" + capsys.readouterr().out
    for name in ("W1", "W2", "W3", "W4"):
        assert f"\n{name} " in out


def test_identity_inputs_follow_the_design():
    import torch

    spec = workloads.IdentitySpec(samples=8, classes=2, nodes=13, height=24, width=32, peaks_per_group=3)
    ctx = workloads.SetupContext(name="W2", device=torch.device("cpu"), scale=0.5, seed=0)
    inputs = workloads.identity_inputs(spec, ctx)
    samples, k = 4, 2  # scaled: S and k only
    num_peaks = samples * spec.nodes * k
    maps = inputs["class_maps"]
    assert maps.shape == (samples, spec.classes, spec.height, spec.width)
    torch.testing.assert_close(maps.sum(dim=1), torch.ones(samples, spec.height, spec.width))
    points = inputs["peak_points"]
    assert points.shape == (num_peaks, 2)
    assert bool((points >= 0).all()) and bool((points[:, 0] <= spec.width - 1).all())
    assert bool((points[:, 1] <= spec.height - 1).all())
    assert inputs["peak_vals"].shape == (num_peaks,)
    groups = inputs["peak_sample_inds"] * spec.nodes + inputs["peak_channel_inds"]
    assert torch.equal(torch.bincount(groups, minlength=samples * spec.nodes), torch.full((samples * spec.nodes,), k))
    assert inputs["n_channels"] == spec.nodes
    again = workloads.identity_inputs(spec, ctx)
    assert all(torch.equal(inputs[key], again[key]) for key in ("class_maps", "peak_points", "peak_sample_inds"))
    one = workloads.identity_inputs(spec, workloads.SetupContext("W2", torch.device("cpu"), 0.01, 0))
    assert one["class_maps"].shape[0] == 1 and one["peak_points"].shape[0] == spec.nodes


def test_identity_compare_is_exact():
    import torch

    compare_outputs = runners.compare_outputs
    nan = float("nan")
    expected = (torch.tensor([[1.0, nan]]), torch.tensor([0.5, nan]), torch.tensor([0.25, nan]))
    assert compare_outputs(expected, tuple(t.clone() for t in expected)).status == "exact"
    moved = (expected[0], torch.tensor([nan, 0.5]), expected[2])
    check = compare_outputs(expected, moved)
    assert check.status == "mismatch" and "point_vals: 2 of 2 entries differ" in check.detail
    off = (expected[0], expected[1], torch.tensor([0.25 + 1e-7, nan]))
    assert compare_outputs(expected, off).status == "mismatch"
    wider = (expected[0], expected[1].double(), expected[2])
    assert "dtype" in compare_outputs(expected, wider).detail
    assert "shape" in compare_outputs(expected, (expected[0][0], expected[1], expected[2])).detail


def test_tiny_identity_run_writes_json(tmp_path, capsys):
    from idmatch.bench import sleap

    sleap_nn_runner = {"sleap-nn"} if sleap.sleap_nn_identity_module() is not None else set()
    path = tmp_path / "identity.json"
    code = main(["bench", "--quick", "--workloads", "W1,W3", "--scale", "0.1", "--repeats", "2", "--json", str(path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(path.read_text())
    assert report["ok"] is True
    assert list(report["workloads"]) == ["W1", "W3"]
    for name, workload in report["workloads"].items():
        assert workload["baseline"] == "idmatch" and workload["oracle"] == "reference"
        runners = workload["runners"]
        assert set(runners) == {"idmatch", "idmatch raw op", "reference"} | sleap_nn_runner, name
        assert runners["idmatch"]["ratio"] == 1.0
        for runner_name, entry in runners.items():
            assert entry["check"] == "exact", (name, runner_name, entry)
            assert len(entry["samples_ms"]) == 2
            assert entry["ratio"] > 0
        assert name in captured.out
    assert "idmatch raw op" in captured.out and "reference" in captured.out


def test_padded_and_paf_workloads_run_against_the_reference_without_sleap_nn(tmp_path, capsys, monkeypatch):
    """X and P need no sleap-nn: without it (or on CUDA) idmatch.reference
    is their oracle, and the raw op is timed as well."""
    from idmatch.bench import sleap

    monkeypatch.setattr(sleap, "sleap_nn_available", lambda: False)
    path = tmp_path / "xp.json"
    code = main(["bench", "--quick", "--workloads", "X1,P2", "--repeats", "2", "--json", str(path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(path.read_text())
    assert report["ok"] is True and list(report["workloads"]) == ["X1", "P2"]
    for name, workload in report["workloads"].items():
        assert workload["oracle"] == "reference", name
        runners = workload["runners"]
        assert set(runners) == {"idmatch", "idmatch raw op", "reference"}, name
        for runner_name, entry in runners.items():
            assert entry["check"] == "exact", (name, runner_name, entry)


@pytest.fixture
def stand_in_sleap_nn(tmp_path, monkeypatch):
    """A sleap_nn package whose own import fails, as sleap-nn's does where
    its training stack is missing, with an identity module that answers
    through idmatch.reference (sleap-nn's algorithm)."""
    from idmatch.bench import sleap

    ops = tmp_path / "sleap_nn" / "inference" / "ops"
    ops.mkdir(parents=True)
    (tmp_path / "sleap_nn" / "__init__.py").write_text("raise ImportError('sleap_io is not installed')\n")
    (ops / "identity.py").write_text("from idmatch.reference import classify_peaks_from_maps  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sleap.sleap_nn_identity_module.cache_clear()
    yield
    sleap.sleap_nn_identity_module.cache_clear()


def test_identity_workloads_time_sleap_nns_module_without_its_package(stand_in_sleap_nn):
    """sleap-nn's identity module is loaded from its file: it runs where
    importing the sleap_nn package fails, as on a GPU machine without
    sleap-nn's training stack, and its answers are checked."""
    import torch

    ctx = workloads.SetupContext("W1", torch.device("cpu"), 1.0, 0)
    prepared = runners.prepare(workloads.WORKLOADS["W1"], ctx)
    assert "sleap-nn" in prepared.runners
    assert "classify_peaks_from_maps on the workload's device" in prepared.runners["sleap-nn"].label
    assert runners.check_answers(prepared, ctx.device)["sleap-nn"].status == "exact"


def test_identity_workloads_note_a_missing_sleap_nn(monkeypatch):
    import torch

    from idmatch.bench import sleap

    monkeypatch.setattr(sleap, "sleap_nn_identity_module", lambda: None)
    ctx = workloads.SetupContext("W1", torch.device("cpu"), 1.0, 0)
    prepared = runners.prepare(workloads.WORKLOADS["W1"], ctx)
    assert "sleap-nn" not in prepared.runners
    assert runners.INSTALL_SLEAP_NN in prepared.notes


def test_wrong_identity_answers_fail_loudly(tmp_path, capsys, monkeypatch):
    import idmatch

    api = idmatch.classify_peaks_from_maps

    def drops_a_point(*args):
        points, point_vals, class_probs = api(*args)
        point_vals = point_vals.clone()
        point_vals.view(-1)[0] = float("nan") if not point_vals.view(-1)[0].isnan() else 0.5
        return points, point_vals, class_probs

    monkeypatch.setattr(idmatch, "classify_peaks_from_maps", drops_a_point)
    path = tmp_path / "identity.json"
    assert main(["bench", "--quick", "--workloads", "W1", "--scale", "0.1", "--repeats", "1", "--json", str(path)]) == 1
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.err and "point_vals: 1 of" in captured.err
    report = json.loads(path.read_text())
    assert report["ok"] is False
    assert report["workloads"]["W1"]["runners"]["idmatch raw op"]["check"] == "exact"


# A workload added to the table, with runners whose answers we control.
@pytest.fixture
def fake_workload(monkeypatch):
    name = "ZZFAKE"
    state = {"idmatch_answer": np.arange(4)}

    def setup(ctx):
        oracle = np.arange(4)

        def broken():
            raise RuntimeError("peer is broken")

        return runners.Prepared(
            shape=f"4 items (scale {ctx.scale:g})",
            runners={
                "idmatch": runners.Runner(lambda: state["idmatch_answer"].copy()),
                "oracle": runners.Runner(lambda: oracle.copy()),
                "other": runners.Runner(lambda: oracle[::-1].copy()),
                "broken": runners.Runner(broken),
            },
            oracle="oracle",
            compare=lambda expected, got: runners.Check("exact" if np.array_equal(expected, got) else "mismatch"),
            notes=["a note for the table"],
        )

    fake = workloads.Workload(name, "fake workload", spec=None)
    real_prepare = runners.prepare

    def prepare(workload, ctx):
        return setup(ctx) if workload is fake else real_prepare(workload, ctx)

    monkeypatch.setitem(workloads.WORKLOADS, name, fake)
    monkeypatch.setattr(runners, "prepare", prepare)
    return name, state


def test_added_workload_runs(fake_workload, tmp_path, capsys):
    name, _ = fake_workload
    path = tmp_path / "fake.json"
    assert main(["bench", "--quick", "--workloads", name.lower(), "--repeats", "1", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "a note for the table" in out
    runners = json.loads(path.read_text())["workloads"][name]["runners"]
    assert runners["idmatch"]["check"] == "exact"
    assert runners["other"]["check"] == "mismatch"
    assert runners["broken"]["check"] == "error"
    assert "peer is broken" in runners["broken"]["check_detail"]
    assert runners["broken"]["samples_ms"] == [] and runners["broken"]["ratio"] is None
    assert runners["oracle"]["ratio"] > 0


def test_wrong_idmatch_answers_fail_loudly(fake_workload, tmp_path, capsys):
    name, state = fake_workload
    state["idmatch_answer"] = np.zeros(4, dtype=np.int64)
    path = tmp_path / "fake.json"
    assert main(["bench", "--quick", "--workloads", name, "--repeats", "1", "--json", str(path)]) == 1
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.err
    assert "MISMATCH" in captured.out
    assert json.loads(path.read_text())["ok"] is False


def test_plot(fake_workload, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    name, _ = fake_workload
    path = tmp_path / "plot.png"
    assert main(["bench", "--quick", "--workloads", name, "--repeats", "1", "--plot", str(path)]) == 0
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(fake_workload, tmp_path, capsys, monkeypatch):
    name, _ = fake_workload
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    path = tmp_path / "plot.png"
    assert main(["bench", "--quick", "--workloads", name, "--repeats", "1", "--plot", str(path)]) == 0
    assert "pip install matplotlib" in capsys.readouterr().out
    assert not path.exists()


def test_compare_assignments_tells_ties_from_errors():
    costs = np.array([[[1.0, 1.0], [1.0, 1.0]], [[0.0, 5.0], [5.0, 0.0]]])
    compare = runners.compare_assignments(costs)
    expected = np.array([[0, 1], [0, 1]])
    assert compare(expected, expected.copy()).status == "exact"
    assert compare(expected, np.array([[1, 0], [0, 1]])).status == "equivalent"
    assert compare(expected, np.array([[0, 1], [1, 0]])).status == "mismatch"
    assert compare(expected, np.array([[0, 0], [0, 1]])).status == "mismatch"
