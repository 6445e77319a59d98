"""How every console script ends: one line for a user's error, a traceback
only for a bug.

A user error (`astromer.errors.AstromerError` and the `ValueError`s and
missing-file errors our readers raise with a message naming the input) is
printed as `<prog>: error: <message>` and the command exits with 2. Any
other exception is a bug: its traceback is printed with a line asking to
report it, and the command exits with 1. `--debug` shows the traceback of
user errors too.
"""

import functools
import sys
import traceback

REPORT_HINT = ("This is a bug in astromer, not in your input: please report it with the command line "
               "and the traceback above.")


def add_debug_option(parser):
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (for reporting a problem)")


def is_user_error(error):
    """Errors a user fixes by changing the input: ours, and the ValueError /
    OSError-with-a-file-name that our readers raise with a full message."""
    from astromer.errors import AstromerError

    if isinstance(error, AstromerError):
        return True
    if type(error) is ValueError:
        return True
    return isinstance(error, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError))


def report(prog, error, debug=False):
    """Prints `error` the way the commands do; returns the exit code."""
    if isinstance(error, KeyboardInterrupt):
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    if is_user_error(error):
        if debug:
            traceback.print_exception(error)
        message = str(error) or type(error).__name__
        print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
        return 2
    traceback.print_exception(error)
    print(f"{prog}: internal error: {type(error).__name__}: {error}\n{REPORT_HINT}", file=sys.stderr)
    return 1


def console_script(prog):
    """Decorates a `main(argv=None) -> int` so that exceptions end as
    `report` says. `--debug` anywhere in the arguments shows tracebacks."""

    def decorate(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            args = sys.argv[1:] if argv is None else list(argv)
            try:
                return main(argv)
            except SystemExit:
                raise
            except BaseException as error:  # noqa: BLE001 - the one place that decides
                if not isinstance(error, (Exception, KeyboardInterrupt)):
                    raise
                return report(prog, error, debug="--debug" in args)

        return wrapper

    return decorate
