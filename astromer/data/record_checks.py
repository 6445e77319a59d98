"""Checking TFRecord files before they are read: the framing of every
record, and the number of records of every shard against the writer's
`manifest.json` (`splits.<split>.shards`; older manifests: the count per
split). TensorFlow reads a file cut at a record boundary as a shorter file
without an error; every reader fails naming the shard instead (`DataError`;
what is checked: docs/robustness.md, "Records"). Records without a manifest
(the original pipelines') are checked for corruption only.

Reading needs TensorFlow (imported when a function here is called).
"""

import json
import os
import struct

from astromer.errors import DataError

MANIFEST = "manifest.json"
REWRITE = "Rewrite the records with pipelines/make_records.py."


def tensorflow():
    try:
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise ImportError(
            "TFRecords need TensorFlow. Without it, read Parquet/CSV tables with "
            "astromer.data.lightcurves and use the NumPy pipeline (astromer.data.datasets)."
        ) from error
    return tf


def detect_schema(serialized):
    """The schema of one serialized record (by its context keys)."""
    tf = tensorflow()
    example = tf.train.SequenceExample.FromString(bytes(serialized))
    lists = set(example.feature_lists.feature_list)
    if {"mjd", "mag", "errmag"} <= lists:
        return "main-code"
    if {"dim_0", "dim_1", "dim_2"} <= lists:
        return "python-library"
    raise DataError(
        f"Not an Astromer light-curve record: feature lists {sorted(lists)} "
        "(expected mjd/mag/errmag or dim_0/dim_1/dim_2)."
    )


def record_files(path):
    """`.record`/`.tfrecord` files under `path` (a file or a folder, searched
    recursively), sorted. Fails naming the path when there are none."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Record path {path!r} does not exist.")
    files = sorted(_record_paths(path))
    if not files:
        raise FileNotFoundError(f"No .record/.tfrecord files under {path!r}.")
    return files


def _framing(file):
    """`(complete records, bytes after the last complete one)` by the
    TFRecord framing alone (each record: 8-byte length, 4-byte CRC, data,
    4-byte CRC). TensorFlow reads a file whose end is cut inside a record
    header or payload as a shorter file without an error; this does not."""
    size = os.path.getsize(file)
    n = position = 0
    with open(file, "rb") as f:
        while size - position >= 12:
            f.seek(position)
            (length,) = struct.unpack("<Q", f.read(8))
            end = position + 16 + length
            if end > size:
                break
            n, position = n + 1, end
    return n, size - position


def _count_records(tf, file):
    """(records, first record or None); corrupt data fails naming the file."""
    n, first = 0, None
    try:
        for batch in tf.data.TFRecordDataset(file).batch(1024):
            if first is None and len(batch):
                first = batch[0].numpy()
            n += int(batch.shape[0])
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        n = 0  # where exactly: again one record at a time (only for a broken file)
        try:
            for _ in tf.data.TFRecordDataset(file):
                n += 1
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError):
            pass
        raise DataError(
            f"Record file {file!r} is corrupt or truncated after {n} records "
            f"({error.message.splitlines()[0]}). {REWRITE}"
        ) from None
    return n, first


def _find_manifest(file, cache):
    """The writer's manifest of `file`: the closest `manifest.json` in its
    folder or the two above it that has our `splits` (else None)."""
    folder = os.path.dirname(os.path.abspath(file))
    for _ in range(3):
        unfinished = os.path.join(folder, MANIFEST + ".writing")
        if os.path.exists(unfinished):
            raise DataError(f"The records in {folder!r} were never finished ({unfinished!r} is still there: the "
                            f"writer stopped before the end), so their shards are incomplete. {REWRITE}")
        if folder not in cache:
            cache[folder] = _load_manifest(os.path.join(folder, MANIFEST))
        if cache[folder] is not None:
            return folder, cache[folder]
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return None, None


def _load_manifest(path):
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as error:
        raise DataError(f"{path!r} cannot be read ({error}): the record counts of the shards next to it are "
                        f"unknown. {REWRITE}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("splits"), dict):
        return None  # not ours
    return manifest


def _per_shard(manifest):
    """{"split/shard file": records} of a manifest, or None when it has
    no per-shard counts (written before they were added)."""
    splits = manifest["splits"]
    if not any(isinstance(v, dict) and "shards" in v for v in splits.values()):
        return None
    return {f"{split}/{name}": int(n) for split, v in splits.items() if isinstance(v, dict)
            for name, n in v.get("shards", {}).items()}


def _record_paths(folder):
    return {
        os.path.join(root, f)
        for root, _, names in os.walk(folder)
        for f in names
        if f.endswith((".record", ".tfrecord", ".tfrecords"))
    }


def _compare_with_manifests(files, counts):
    """Fails (DataError naming the shard) where `counts` (records read per
    file) differ from the writer's manifest: a shard holding other counts, a
    shard listed but missing from a split that is read whole, or a shard
    not listed. Whole splits are compared by their total for manifests
    without per-shard counts."""
    cache, groups = {}, {}
    for file, n in zip(files, counts):
        root, manifest = _find_manifest(file, cache)
        if manifest is not None:
            groups.setdefault(root, (manifest, {}))[1][os.path.abspath(file)] = n
    for root, (manifest, read) in groups.items():
        where = os.path.join(root, MANIFEST)
        expected = _per_shard(manifest)
        on_disk = _record_paths(root)
        whole = on_disk <= set(read)
        for split, entry in manifest["splits"].items():
            folder = os.path.join(root, split)
            in_split = {f for f in on_disk if os.path.dirname(f) == os.path.normpath(folder)}
            complete = whole or (in_split and in_split <= set(read))
            if not complete:
                continue
            if expected is None:
                total = sum(n for f, n in read.items() if os.path.dirname(f) == os.path.normpath(folder))
                want = int(entry.get("light_curves", total)) if isinstance(entry, dict) else total
                if total != want:
                    each = ", ".join(f"{os.path.basename(f)}: {n}" for f, n in sorted(read.items())
                                     if os.path.dirname(f) == os.path.normpath(folder))
                    raise DataError(
                        f"Split folder {folder!r} holds {total} records but {where!r} says {want} (a shard was "
                        f"truncated, emptied or removed after writing; records per shard: {each or 'no shards'}). "
                        f"{REWRITE}"
                    )
                continue
            for key, want in sorted(expected.items()):
                shard = os.path.normpath(os.path.join(root, key))
                if os.path.dirname(shard) == os.path.normpath(folder) and shard not in read:
                    raise DataError(f"Record shard {shard!r} is missing: {where!r} lists it with {want} records. "
                                    f"{REWRITE}")
        if expected is None:
            continue
        for file, n in sorted(read.items()):
            key = os.path.relpath(file, root).replace(os.sep, "/")
            if key not in expected:
                raise DataError(
                    f"Record shard {file!r} ({n} records) is not listed in {where!r}, which lists "
                    f"{len(expected)} shards (left from an earlier write, or copied in?). Remove it, or "
                    f"rewrite the records with pipelines/make_records.py."
                )
            want = expected[key]
            if n != want:
                what = "is empty (0 bytes)" if os.path.getsize(file) == 0 else f"holds {n} records"
                raise DataError(
                    f"Record shard {file!r} {what} but {where!r} says it has {want} (expected {want}, read {n}): "
                    f"it was truncated or replaced after it was written. {REWRITE}"
                )


# (files, their and their manifests' sizes and modification times) ->
# check_records' answer: preparing a run, building its tf.data pipelines and
# sharding them all ask for the same files' counts, and reading a big corpus
# once is enough. A file rewritten since (another size or time) is read again.
_CHECKED = {}


def check_records(files):
    """Reads every record of `files` once and compares the counts with the
    writer's `manifest.json` when there is one (see the module docstring).
    A corrupt or truncated file fails with its name (`DataError`). Returns
    `(schema, number of records per file)`; files already checked
    unchanged in this process are not read again."""
    files = list(files)
    stamp = _stamp(files)
    if stamp not in _CHECKED:
        _CHECKED[stamp] = _check_records(files)
    schema, counts = _CHECKED[stamp]
    return schema, list(counts)


def _stamp(files):
    """What check_records' answer depends on: the files' sizes and times, and
    those of the manifests it may compare them with (`_find_manifest`)."""
    def state(path):
        return (os.stat(path).st_size, os.stat(path).st_mtime_ns) if os.path.exists(path) else None

    folders = set()
    for file in files:
        folder = os.path.dirname(os.path.abspath(file))
        for _ in range(3):
            folders.add(folder)
            folder = os.path.dirname(folder)
    manifests = tuple((folder, state(os.path.join(folder, MANIFEST)),
                       state(os.path.join(folder, MANIFEST + ".writing"))) for folder in sorted(folders))
    return tuple(files), tuple(state(f) for f in files), manifests


def _check_records(files):
    tf = tensorflow()
    schema, counts = None, []
    for file in files:
        complete, left = _framing(file)
        if left:
            root, manifest = _find_manifest(file, {})
            key = os.path.relpath(os.path.abspath(file), root).replace(os.sep, "/") if root else None
            want = (_per_shard(manifest) or {}).get(key) if manifest is not None else None
            expected = "" if want is None else f"; {os.path.join(root, MANIFEST)!r} expects {want}, read {complete}"
            raise DataError(
                f"Record file {file!r} is corrupt or truncated after {complete} records (its last {left} bytes "
                f"are an incomplete record{expected}). {REWRITE}"
            )
        n, first = _count_records(tf, file)
        if schema is None and first is not None:
            try:
                schema = detect_schema(first)
            except Exception as error:  # a protobuf DecodeError or ours
                raise DataError(f"Record file {file!r}: {error}") from None
        counts.append(n)
    _compare_with_manifests(files, counts)
    if schema is None:
        raise DataError(f"The record files {files[:3]}{'...' if len(files) > 3 else ''} hold no records.")
    return schema, counts
