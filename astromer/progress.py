"""The one progress display for long loops (embedding, record writing,
few-shot fits); pretraining keeps Keras' `Progbar` through `fit`. Every
command shows the same line on stderr: count, total when known, rate, time
left. tqdm, since importing Keras loads the backend, which a record-writing
script does not need. When stderr is not a terminal (a log file), the line
is written as plain lines, at most one every `LOG_INTERVAL_S` seconds and
the final one, without ANSI codes; Keras' bar gives one line per epoch
there (`keras_verbose`).
"""

import re
import sys

# A bar appears only for work that lasts: a job done (or failed) within a
# second leaves the terminal with its result (or its one-line error) alone.
DELAY_S = 1.0
# Seconds between two progress lines written to a file.
LOG_INTERVAL_S = 10.0
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\r\b]")


def progress(items=None, total=None, unit="light curves", enabled=True, desc=None):
    """A `tqdm` progress line over `items` (None: a bar to `update(n)` by
    hand), counting `unit`s out of `total` (None: unknown), labelled `desc`;
    `enabled=False` gives a silent bar with the same interface."""
    from tqdm.auto import tqdm

    stream = sys.stderr
    if _is_terminal(stream):
        return tqdm(items, total=total, unit=f" {unit}", unit_scale=False, desc=desc,
                    disable=not enabled, file=stream, mininterval=0.5, dynamic_ncols=True,
                    leave=True, delay=DELAY_S)
    # ncols=0: the numbers without the bar.
    return _log_bar(tqdm)(items, total=total, unit=f" {unit}", unit_scale=False, desc=desc, disable=not enabled,
                          file=PlainLines(stream), mininterval=LOG_INTERVAL_S, maxinterval=LOG_INTERVAL_S, ncols=0,
                          leave=True, delay=DELAY_S)


def _log_bar(tqdm):
    """tqdm whose final line is written for work that lasted more than
    DELAY_S even when no line was due yet (tqdm writes none then: with a
    terminal's short interval, one always was)."""

    class LogBar(tqdm):
        def close(self):
            if not self.disable and self.last_print_t < self.start_t + self.delay <= self._time():
                self.refresh()
            super().close()

    return LogBar


def keras_verbose(verbose, stream=None):
    """The `verbose` to give Keras' `fit` for a requested `verbose` of 1:
    2 (one line per epoch) when `stream` (Keras prints to stdout) is not a
    terminal, where its redrawn bar would fill a log with ANSI codes and
    backspaces at every step."""
    stream = sys.stdout if stream is None else stream
    return 2 if verbose == 1 and not _is_terminal(stream) else verbose


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class PlainLines:
    """A text stream for tqdm when output goes to a file: each redraw of the
    line (a carriage return, ANSI cursor codes, padding) is written as one
    plain line; empty redraws (clearing the line) and repeats are dropped."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None

    def write(self, text):
        for part in text.split("\n"):
            # What a terminal would show of this redraw: the text after its last carriage return.
            line = _CONTROL.sub("", part.split("\r")[-1]).rstrip()
            # Closing redraws the last line once more.
            if line and line != self.last:
                self.stream.write(line + "\n")
                self.last = line

    def flush(self):
        self.stream.flush()
