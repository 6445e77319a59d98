"""The batch shapes the Embedder compiles: full batches, then the rest in
power-of-two pieces from 8 up to the batch size (a small job never pays for
a big batch, and few shapes are compiled)."""


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
