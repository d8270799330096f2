"""The documents say what runs: every Python block of the README runs as
written, the commands they show exist, and their links lead somewhere.

- Each ```python block of README.md runs in a fresh interpreter (this one,
  with this process's environment, so PYTHONPATH and the build under test
  carry over), in a scratch folder, and must exit with status 0.
- Commands in ```bash blocks and in inline code are checked without running
  them (no recursion into `make test`): every `make TARGET` names a target
  of the Makefile, and every `python -m idmatch COMMAND --option` names a
  subcommand that answers --help and an option that its help lists.
- The block after README's `<!-- test-command -->` marker is the one CI runs
  (.ci/run reads the line after the fence): it must be a `make` command.
- Every relative link and image in README.md, CONTRIBUTING.md, CHANGELOG.md
  and docs/*.md points to a file that exists, and an anchor to a heading of
  that file.

The blocks and the help commands start together, when the first test that
needs them runs, so the file takes about as long as its slowest block.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from idmatch.bench.sleap import sleap_nn_available

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = sorted([README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
TIMEOUT_S = 600

FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
MAKE_COMMAND = re.compile(r"(?:^|[\s;&|(])make\s+((?:[A-Za-z_][\w.-]*=\S*\s+)*)([A-Za-z][\w-]*)")
IDMATCH_COMMAND = re.compile(r"python\S*\s+-m\s+idmatch\s+([A-Za-z][\w-]*)((?:\s+[^\s#`]+)*)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def code_blocks(path: Path) -> List[Tuple[str, str, int]]:
    """(language, body, first line number) of each fenced block."""
    text = path.read_text(encoding="utf-8")
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 2) for m in FENCE.finditer(text)]


def prose(path: Path) -> str:
    """The text outside fenced blocks."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def command_texts() -> List[Tuple[str, str]]:
    """(where, text) of every shell command the documents show: the lines of
    bash blocks and the inline code spans outside blocks."""
    texts = []
    for path in DOCUMENTS:
        name = path.relative_to(ROOT).as_posix()
        for language, body, line in code_blocks(path):
            if language in ("bash", "sh", "shell", "console"):
                for offset, text in enumerate(body.splitlines()):
                    texts.append((f"{name}:{line + offset}", text.split(" #")[0]))
        texts += [(name, m.group(1)) for m in INLINE_CODE.finditer(prose(path))]
    return texts


def makefile_targets() -> Set[str]:
    targets = set()
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z][\w.-]*(?:\s+[A-Za-z][\w.-]*)*)\s*:(?!=)", line)
        if m:
            targets.update(m.group(1).split())
    return targets


def idmatch_commands() -> Dict[str, Set[str]]:
    """Subcommand -> the options the documents give it."""
    commands: Dict[str, Set[str]] = {}
    for _, text in command_texts():
        for m in IDMATCH_COMMAND.finditer(text):
            options = {word.split("=")[0] for word in m.group(2).split() if word.startswith("--")}
            commands.setdefault(m.group(1), set()).update(options)
    return commands


NEEDS_SLEAP_NN = "<!-- needs sleap-nn -->"


def python_blocks() -> List[Tuple[int, str]]:
    return [(line, body) for language, body, line in code_blocks(README) if language == "python"]


def blocks_needing_sleap_nn() -> Set[int]:
    """First lines of the blocks right after a needs-sleap-nn marker: they run
    where sleap-nn is installed (make sleap-check runs this file there)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    return {line for line, _ in python_blocks() if NEEDS_SLEAP_NN in lines[line - 3]}


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces
    to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> Set[str]:
    found: Set[str] = set()
    for heading in HEADING.findall(prose(path)):
        base = slug(heading)
        name, n = base, 0
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """Starts every README block and every subcommand's --help at once;
    tests collect them."""
    processes: Dict[str, subprocess.Popen] = {}
    env = dict(os.environ)
    for line, body in python_blocks():
        if line in blocks_needing_sleap_nn() and not sleap_nn_available():
            continue
        folder = tmp_path_factory.mktemp(f"readme-block-{line}")
        script = folder / "block.py"
        script.write_text(body, encoding="utf-8")
        processes[f"block:{line}"] = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    for command in idmatch_commands():
        processes[f"help:{command}"] = subprocess.Popen(
            [sys.executable, "-m", "idmatch", command, "--help"],
            cwd=tmp_path_factory.mktemp(f"help-{command}"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    yield processes
    for process in processes.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def finish(process: subprocess.Popen) -> Tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        return -1, output + f"\n(killed after {TIMEOUT_S} s)"
    return process.returncode, output


def test_readme_has_python_blocks():
    assert len(python_blocks()) >= 2


@pytest.mark.parametrize("line", [line for line, _ in python_blocks()], ids=lambda line: f"README.md:{line}")
def test_readme_python_block_runs(started, line):
    if line in blocks_needing_sleap_nn() and not sleap_nn_available():
        pytest.skip("the block uses sleap-nn, which does not import here")
    code, output = finish(started[f"block:{line}"])
    assert code == 0, f"the README's block at line {line} failed:\n{output[-4000:]}"


def test_make_targets_exist():
    targets = makefile_targets()
    assert {"demo", "test"} <= targets
    missing = [
        f"{where}: make {m.group(2)}"
        for where, text in command_texts()
        for m in MAKE_COMMAND.finditer(text)
        if m.group(2) not in targets
    ]
    assert not missing, f"no such Makefile target: {missing}"


@pytest.mark.parametrize("command", sorted(idmatch_commands()))
def test_idmatch_commands_and_options_exist(started, command):
    code, output = finish(started[f"help:{command}"])
    assert code == 0, f"python -m idmatch {command} --help failed:\n{output[-4000:]}"
    unknown = sorted(option for option in idmatch_commands()[command] if option not in output)
    assert not unknown, f"python -m idmatch {command} has no option {unknown}:\n{output}"


def test_ci_test_command_is_a_make_command():
    lines = README.read_text(encoding="utf-8").splitlines()
    marker = lines.index("<!-- test-command -->")
    assert lines[marker + 1] == "```bash"
    command = lines[marker + 2].split("#")[0].split()
    assert command[0] == "make" and command[1] in makefile_targets(), lines[marker + 2]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_links_point_to_files_that_exist(path):
    broken = []
    for target in LINK.findall(prose(path)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{path.relative_to(ROOT)}: broken links {broken}"
