"""Command line: ``python -m idmatch COMMAND``.

Each command is a (name, help, add_arguments, run) entry in ``_COMMANDS``;
``run`` returns the exit code and raises ``_cli.UsageError`` for arguments
that argparse cannot check by itself, which then fail like argparse's own.
"""

import argparse
import sys
from typing import Callable, List, Optional, Tuple

from ._cli import UsageError


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    from . import bench

    bench.add_arguments(parser)


def _bench_run(args: argparse.Namespace) -> int:
    from . import bench

    return bench.run(args)


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    from . import demo

    demo.add_arguments(parser)


def _demo_run(args: argparse.Namespace) -> int:
    from . import demo

    return demo.run(args)


def _sleap_nn_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, help="sleap-nn's own arguments, e.g. track -i video.mp4 -m model"
    )


def _sleap_nn_run(args: argparse.Namespace) -> int:
    from . import sleap_nn

    return sleap_nn.run_cli(args.args)


_Command = Tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

_COMMANDS: List[_Command] = [
    (
        "demo",
        "classify the peaks of a synthetic multi-animal scene and check them against the reference",
        _demo_arguments,
        _demo_run,
    ),
    (
        "bench",
        "time idmatch against scipy and other solvers, after checking their answers",
        _bench_arguments,
        _bench_run,
    ),
    (
        "sleap-nn",
        "run sleap-nn's command line (sleap-nn ARGS...) with idmatch enabled",
        _sleap_nn_arguments,
        _sleap_nn_run,
    ),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m idmatch",
        description="idmatch: exact linear sum assignment and identity matching as PyTorch ops.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, help_text, add_arguments, run in _COMMANDS:
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        add_arguments(subparser)
        subparser.set_defaults(_run=run, _parser=subparser)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sleap-nn"]:
        # Everything after the command is sleap-nn's, --help included.
        from . import sleap_nn

        return sleap_nn.run_cli(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args._run(args)
    except UsageError as error:
        args._parser.error(str(error))  # exits with status 2
        raise  # unreachable: keeps type checkers content


if __name__ == "__main__":
    sys.exit(main())
