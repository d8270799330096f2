"""Without sleap-nn installed, idmatch.sleap_nn says what is missing instead
of failing obscurely (the tests with sleap-nn are tests/test_sleap_nn_*.py)."""

import importlib.util
import subprocess
import sys

import pytest

import idmatch

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sleap_nn") is not None, reason="sleap-nn is installed here")


def test_enable_names_the_extra():
    with pytest.raises(ImportError, match=r"sleap-nn is not installed: pip install 'idmatch\[sleap\]'"):
        idmatch.sleap_nn.enable()
    assert not idmatch.sleap_nn.is_enabled()


def run_command(*args):
    return subprocess.run([sys.executable, "-m", "idmatch", "sleap-nn", *args], capture_output=True, text=True)


def test_command_fails_with_the_hint():
    result = run_command("track", "-i", "video.mp4")
    assert result.returncode == 1
    assert "sleap-nn is not installed" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_command_help_answers():
    result = run_command("--help")
    assert result.returncode == 0, result.stderr
    assert "sleap-nn's command line with idmatch enabled" in result.stdout


def test_enable_tells_a_broken_install_from_a_missing_one(tmp_path, monkeypatch):
    """sleap-nn installed without its dependencies is reported as such."""
    (tmp_path / "sleap_nn").mkdir()
    (tmp_path / "sleap_nn" / "__init__.py").write_text("import a_dependency_that_is_missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    expected = r"sleap-nn is installed but does not import \(No module named 'a_dependency_that_is_missing'\)"
    with pytest.raises(ImportError, match=expected):
        idmatch.sleap_nn.enable()
    assert not idmatch.sleap_nn.is_enabled()
