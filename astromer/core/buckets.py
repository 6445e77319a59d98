"""Batches of inference windows: whole windows, or windows cut to length
buckets (padding-free inference), with a bounded number of compiled shapes.

A window's real steps come first and its padding last
(`astromer.data.windows`). When the backbone keeps padded steps out of
attention, no real step's output depends on how much padding follows it,
so a window of `n` real steps can run at the smallest bucket length that
holds them (`bucket_length`) instead of the full `window_size`. The
`Embedder` decides with `padding_free_reason` and runs batches through
`bucketed`.
"""

from collections import deque

from astromer.layers.attention import EXCLUDING_ALPHA

BUCKET_STEP = 32


def padding_free_reason(backbone):
    """`(valid, why)`: whether padded steps are kept out of everything that
    reaches a real step's output, so that windows can be cut (`valid`), and
    the reason in words (for `Embedder.describe`).

    - Astromer: only attention mixes steps; padding is out of it when the
      bias excludes padded keys: `mask_format` "K" (or "QK", whose rows of
      real queries are the same) with `mask_alpha <= EXCLUDING_ALPHA`
      (`attention_implementation="lengths"` requires exactly that). A soft
      (A2 original, -0.5) or bonus (A1 original, +1) mask lets padding in,
      and "Q" is a constant per row (no exclusion at all). Times enter
      through the time encoding only (no step-index position), the mask
      token and dropout are per step.
    - AstroCo: attention always excludes padded keys (`ConformerBlock`) and
      the convolution zeroes padded steps first, which are then the same as
      the zeros beyond a window's end (`ConformerConvModule`).
    - Any other backbone: not known to be padding-free.
    """
    from astromer.models.astroco_backbone import AstroCoBackbone
    from astromer.models.astromer_backbone import AstromerBackbone

    if isinstance(backbone, AstroCoBackbone):
        return True, "AstroCo attention and convolutions exclude padding"
    if not isinstance(backbone, AstromerBackbone):
        return False, f"{type(backbone).__name__} is not known to exclude padding"
    settings = f"mask_format={backbone.mask_format}, mask_alpha={backbone.mask_alpha:g}"
    if backbone.mask_format in ("K", "QK") and backbone.mask_alpha <= EXCLUDING_ALPHA:
        return True, f"attention excludes padding ({settings})"
    return False, f"padding takes part in attention ({settings}, the original codes' mask)"


def bucket_lengths(window_size, step=BUCKET_STEP):
    """The lengths windows are cut to: multiples of `step` below
    `window_size`, then `window_size` (200: 32, 64, ..., 192, 200)."""
    window_size = int(window_size)
    return [*range(step, window_size, step), window_size]


def bucket_length(real_steps, window_size, step=BUCKET_STEP):
    """The smallest bucket length holding `real_steps` (an all-padding
    window, 0 real steps, runs at the smallest)."""
    return min(int(window_size), step * max(1, -(-int(real_steps) // step)))


def remainder_piece(count, batch_size, smallest=8):
    """How many of `count` leftover windows the next call takes: the largest
    power of two not above `count` (and at least `smallest`, at most
    `batch_size`); the last piece is then padded by `padded_batch`."""
    if count <= smallest:
        return count
    return min(1 << (int(count).bit_length() - 1), int(batch_size))


def padded_batch(count, batch_size, smallest=8):
    """The batch a last batch of `count` windows is padded to: the next
    power of two, at least `smallest`, at most `batch_size`."""
    return min(max(int(smallest), 1 << max(int(count) - 1, 0).bit_length()), int(batch_size))


def bucketed(items, run, batch_size, bucket_of=None, buffer=None):
    """Yields `(item, result)` for every `item` of `items`, in their order.

    `items` are tuples whose last element is a window; `bucket_of(item)`
    gives its length bucket (None: one bucket, whole windows) and
    `run(length, windows)` the results of a batch of windows of one bucket.
    A bucket runs as soon as it holds `batch_size` windows. At most
    `buffer` items (default `8 * batch_size`) wait for their result or for
    an earlier item's: when full, the bucket of the oldest waiting item runs
    what it has, so memory does not grow with the catalogue and a rare
    bucket cannot hold the stream back for long.

    Less than a full batch runs in pieces of a few compiled shapes, powers
    of two from 8 up to `batch_size`, largest first (49 windows: 32 + 16 +
    1 padded to 8): at most 7 padded windows per piece run, and there are at
    most log2(batch_size / 8) + 1 batch shapes per bucket (7 buckets for a
    200-step window: `bucket_lengths`). A window's result never depends on
    how full its batch is, nor on its neighbours.
    """
    batch_size = int(batch_size)
    buffer = max(int(buffer or 8 * batch_size), batch_size)
    waiting = deque()  # [item, bucket, result, arrival number] in arrival order
    pending = {}  # bucket -> entries not run yet, in arrival order
    missing = object()

    def run_entries(bucket, entries):
        while entries:
            size = remainder_piece(len(entries), batch_size)
            piece, entries = entries[:size], entries[size:]
            windows = [entry[0][-1] for entry in piece]
            filler = [windows[-1]] * (padded_batch(len(windows), batch_size) - len(windows))
            for entry, result in zip(piece, run(bucket, windows + filler)):
                entry[2] = result

    def ready():
        while waiting and waiting[0][2] is not missing:
            item, _, result, _ = waiting.popleft()
            yield item, result

    for number, item in enumerate(items):
        bucket = None if bucket_of is None else bucket_of(item)
        entry = [item, bucket, missing, number]
        waiting.append(entry)
        pending.setdefault(bucket, []).append(entry)
        if len(pending[bucket]) == batch_size:
            run_entries(bucket, pending.pop(bucket))
        if len(waiting) >= buffer and waiting[0][2] is missing:
            oldest = waiting[0][1]
            run_entries(oldest, pending.pop(oldest))
        yield from ready()
    # The end: each bucket in the order of its oldest window.
    for bucket in sorted(pending, key=lambda b: pending[b][0][3]):
        run_entries(bucket, pending.pop(bucket))
        yield from ready()
