"""Command-line helpers shared by ``initmath``, ``python -m verification`` and
``python -m experiments``: the one-line error parser, integer options and the check that
an output file can be written.

A library module (not :mod:`initmath.__main__`), so that the other command lines import
it without importing initmath's own command line.
"""
import argparse
import os
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from . import _validate
from .outputs import tables

# Seeds are hashed into 63-bit generator seeds; any integer in [0, SEED_MAX] is accepted.
SEED_MAX = 2 ** 63 - 1


def option_type(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from convert(text), whose ValueError becomes argparse's one-line
    "--option: message" error."""
    def option(text):
        try:
            return convert(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    option.__name__ = convert.__name__
    return option


def one_value(text: str, parse: Callable[[str], Any]) -> Any:
    """parse(text) for an option that takes one value (a comma list is an error)."""
    if "," in text:
        raise ValueError(f"takes one value, got {tables._show(text)} (for a table over several "
                         "values use 'initmath table')")
    return parse(text)


def integer_option(name: str, low: int = 1,
                   high: int = _validate.D_MAX) -> Callable[[str], int]:
    """An argparse type for one integer in [low, high] (1e3 is 1000; 1.5 is an error)."""
    def integer(text):
        value = one_value(text, tables._integer)
        if not low <= value <= high:
            shown = "2**63 - 1" if high == SEED_MAX else _validate.bound_text(high)
            raise ValueError(f"{name} must be an integer in [{low}, {shown}], "
                             f"got {tables._show(text)}")
        return value
    return option_type(integer)


def writable(path: str, option: str) -> str:
    """Check before any work that path can be written (its folder exists, is writable)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"{option}: {path!r} is a folder, not a file")
    if not os.path.isdir(folder):
        raise ValueError(f"{option}: cannot write {path!r}: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise ValueError(f"{option}: cannot write {path!r}: permission denied")
    return path


def fail(prog: str, message: object, help_prog: str | None = None) -> NoReturn:
    """One line "PROG: error: MESSAGE (see 'PROG --help')" on stderr, exit status 2."""
    message = " ".join(str(message).split()) or "failed"
    sys.stderr.write(f"{prog}: error: {message} (see '{help_prog or prog} --help')\n")
    raise SystemExit(2)


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr (the subcommand, the option, what is wrong, where
    the help is), exit status 2 (argparse's convention); option names never abbreviated."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        # argparse's "argument --d: invalid ..." as "--d: invalid ..."
        fail(self.prog, re.sub(r"^argument ([^:\s]+?)(/[^:\s]+)*: ", r"\1: ", str(message)))

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but arguments left over are reported by the subcommand that was
        chosen (its parser is the namespace's _parser), not by the top-level command."""
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            getattr(namespace, "_parser", self).error(
                f"unrecognized arguments: {' '.join(extras)}")
        return namespace
