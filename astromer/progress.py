"""The one progress display for long loops (embedding, record writing, few-shot).

Pretraining keeps Keras' own `Progbar` through `model.fit` (steps of an
epoch and their losses); everything else goes through `progress()`: loops
over a catalogue, few-shot fits, and supervised finetuning's epochs (fits
inside a few-shot run, whose bar would be broken by Keras' own). So every
command shows the same kind of line on stderr: count, total when known,
rate and time left. tqdm rather than Keras' `Progbar` because importing
Keras loads the backend (seconds with TensorFlow), which a record-writing
script does not need.
"""

import sys

# A bar appears only for work that lasts: a job done (or failed) within a
# second leaves the terminal with its result (or its one-line error) alone.
DELAY_S = 1.0


def progress(items=None, total=None, unit="light curves", enabled=True, desc=None):
    """Wraps an iterable (or makes a bar to `update()` by hand) with a progress line.

    Args:
        items: the iterable to walk, or None for a bar advanced with `update(n)`.
        total: the number of items (or units) expected; None when unknown (the
            line then shows the count and rate only).
        unit: what is counted, shown after the numbers.
        enabled: False gives a silent bar with the same interface, so callers
            need no second code path for `verbose=False`.
        desc: a short label in front of the numbers.

    Returns:
        a `tqdm` object: iterate it, or call `update(n)`, `set_postfix_str(s)`
        and `close()` (or use it as a context manager).
    """
    from tqdm.auto import tqdm

    return tqdm(items, total=total, unit=f" {unit}", unit_scale=False, desc=desc,
                disable=not enabled, file=sys.stderr, mininterval=0.5, dynamic_ncols=True,
                leave=True, delay=DELAY_S)
