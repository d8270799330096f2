"""What the commands of ``python -m idmatch`` share."""


class UsageError(Exception):
    """A bad command line argument that argparse cannot check by itself: the
    command raises it and ``idmatch.__main__`` reports it as argparse reports
    its own (exit code 2)."""
