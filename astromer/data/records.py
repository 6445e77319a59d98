"""TFRecords in the original Astromer `SequenceExample` schemas.

Two schemas (both read; `main-code` is what we write):

- "main-code" (Astromer 2, `src/data/record.py`): context `ID` (bytes),
  `Class` (bytes), `Band` (bytes), `Label` (int64), `shard` (int64);
  feature lists `mjd`, `mag`, `errmag`.
- "python-library" (Astromer 1, `core/data.py`): context `id` (bytes),
  `label` (int64), `length` (int64); feature lists `dim_0`, `dim_1`, `dim_2`
  (time, magnitude, error).

In both, each feature list holds ONE float feature with the whole sequence
(not one feature per step).

Additions of our writer, ignored by the original readers: context `key`
(int64, the light curve's index in the written table, used to draw its
random windows) and `mjd_reference` (int64 days). Times are stored as
float32 offsets from `mjd_reference = floor(first time)`: a float32 MJD
near 50,000 is only good to about 5 minutes, an offset of a few thousand
days to a few seconds. The original pipelines centre every window, so the
offset does not change what they feed their models. Multi-band records
add a `band` feature list (int64 band index per step) and context
`band_names` (bytes, comma-separated).

Our writer also puts `manifest.json` next to the split folders, with the
number of records of every shard (`splits.<split>.shards`). Every reader
(`check_records`, hence `read_records`, the tf.data path and
`astromer-train --data`) compares what it reads with it and fails naming
the shard (`DataError`) when a shard holds fewer or more records, is
missing, or is not listed: a TFRecord file cut at a record boundary, or
to a few bytes, or to nothing, reads as a shorter file without any error
from TensorFlow. Manifests of older versions have only the count per
split, which is compared when a whole split is read. Records without a
manifest (the original pipelines') are checked for corruption and for an
incomplete last record only.

Reading needs TensorFlow (imported when a function here is called).
"""

import json
import os
import re
import struct

import numpy as np

from astromer.data.lightcurves import LightCurve
from astromer.errors import DataError

SCHEMAS = ("main-code", "python-library")
MANIFEST = "manifest.json"
REWRITE = "Rewrite the records with pipelines/make_records.py."


def _tf():
    try:
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise ImportError(
            "TFRecords need TensorFlow. Without it, read Parquet/CSV tables with "
            "astromer.data.lightcurves and use the NumPy pipeline (astromer.data.datasets)."
        ) from error
    return tf


def _float_list(tf, values):
    return tf.train.FeatureList(feature=[tf.train.Feature(float_list=tf.train.FloatList(value=values))])


def _int_list(tf, values):
    return tf.train.FeatureList(feature=[tf.train.Feature(int64_list=tf.train.Int64List(value=values))])


def serialize(lc, key=0, label_index=-1, shard=0, schema="main-code", band_names=None):
    """One light curve as a serialized `SequenceExample`."""
    tf = _tf()
    bytes_feature = lambda v: tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(v).encode()]))  # noqa: E731
    int_feature = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))  # noqa: E731
    time = np.asarray(lc.time, np.float64)
    _check_finite(lc.id, "time", time)
    reference = int(np.floor(time.min())) if len(time) else 0
    with np.errstate(over="ignore"):  # checked just below
        offsets = (time - reference).astype(np.float32)
        mag, err = np.asarray(lc.mag, np.float32), np.asarray(lc.err, np.float32)
    # What is written is float32: a value beyond +-3.4e38 becomes inf there.
    for name, values in (("time", offsets), ("mag", mag), ("err", err)):
        _check_finite(lc.id, name, values)
    if schema == "main-code":
        band_label = "" if lc.band is None else ",".join(sorted(set(map(str, lc.band))))
        context = {
            "ID": bytes_feature(lc.id),
            "Class": bytes_feature("" if lc.label is None else lc.label),
            "Band": bytes_feature(band_label),
            "Label": int_feature(label_index),
            "shard": int_feature(shard),
        }
        names = ("mjd", "mag", "errmag")
    elif schema == "python-library":
        context = {
            "id": bytes_feature(lc.id),
            "label": int_feature(label_index),
            "length": int_feature(len(time)),
        }
        names = ("dim_0", "dim_1", "dim_2")
    else:
        raise ValueError(f"Unknown record schema {schema!r}; use one of {SCHEMAS}.")
    context["key"] = int_feature(key)
    context["mjd_reference"] = int_feature(reference)
    lists = {
        names[0]: _float_list(tf, offsets),
        names[1]: _float_list(tf, mag),
        names[2]: _float_list(tf, err),
    }
    if lc.band is not None and band_names is not None:
        index = {name: i for i, name in enumerate(band_names)}
        unknown = sorted({str(b) for b in lc.band} - set(index))
        if unknown:
            raise DataError(f"Light curve {lc.id!r} has band(s) {unknown} that are not among the bands "
                            f"{list(band_names)} given to the writer.")
        lists["band"] = _int_list(tf, [index[str(b)] for b in lc.band])
        context["band_names"] = bytes_feature(",".join(band_names))
    example = tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list=lists),
    )
    return example.SerializeToString()


def _check_finite(lc_id, name, values):
    bad = ~np.isfinite(values)
    if bad.any():
        where = "" if name != "time" else " (times are stored as float32 offsets from the first day)"
        raise DataError(
            f"Light curve {lc_id!r}: {int(bad.sum())} {name} value(s) are NaN/inf or beyond the float32 range "
            f"(+-3.4e38){where}, e.g. {values[bad][0]!r}; records hold float32 only. Clean the light curves first "
            "(astromer.data.cleaning drops such rows and counts them), or remove that light curve."
        )


def detect_schema(serialized):
    """The schema of one serialized record (by its context keys)."""
    tf = _tf()
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


def parse_function(schema):
    """A tf function parsing a BATCH of serialized records of `schema` into
    a dict: `id`, `class_name` (string), `label`, `key` (int64, -1 if absent)
    of shape `(batch,)`, and ragged `(batch, None)` `time` (float64,
    absolute when `mjd_reference` is present), `mag`, `err` (float32) and
    `band` (int64; zeros for single-band records)."""
    tf = _tf()
    if schema == "main-code":
        id_key, label_key, names = "ID", "Label", ("mjd", "mag", "errmag")
        context = {
            "ID": tf.io.FixedLenFeature([], tf.string),
            "Class": tf.io.FixedLenFeature([], tf.string, default_value=""),
            "Label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        }
    elif schema == "python-library":
        id_key, label_key, names = "id", "label", ("dim_0", "dim_1", "dim_2")
        context = {
            "id": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        }
    else:
        raise ValueError(f"Unknown record schema {schema!r}; use one of {SCHEMAS}.")
    context["key"] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)
    context["mjd_reference"] = tf.io.FixedLenFeature([], tf.int64, default_value=0)
    # One feature holds the whole sequence: (batch, 1, L) -> (batch, L).
    sequence = {name: tf.io.RaggedFeature(tf.float32) for name in names}
    sequence["band"] = tf.io.RaggedFeature(tf.int64)

    def parse(serialized):
        ctx, seq, _ = tf.io.parse_sequence_example(serialized, context, sequence)
        time, mag, err = (seq[name].merge_dims(1, 2) for name in names)
        reference = tf.cast(ctx["mjd_reference"], tf.float64)[:, None]
        time = tf.cast(time, tf.float64) + reference
        band = seq["band"].merge_dims(1, 2)
        # Single-band records have no band list: index 0 everywhere.
        band = tf.cond(
            tf.size(band.flat_values) > 0,
            lambda: band,
            lambda: tf.cast(tf.zeros_like(mag), tf.int64),
        )
        batch = tf.shape(serialized)[0]
        return {
            "id": ctx[id_key],
            "label": ctx[label_key],
            "class_name": ctx["Class"] if "Class" in ctx else tf.fill([batch], ""),
            "key": ctx["key"],
            "time": time,
            "mag": mag,
            "err": err,
            "band": band,
        }

    return parse


def record_files(path):
    """`.record`/`.tfrecord` files under `path` (a file or a folder, searched
    recursively), sorted. Fails naming the path when there are none."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"Record path {path!r} does not exist.")
    files = sorted(
        os.path.join(root, f)
        for root, _, names in os.walk(path)
        for f in names
        if f.endswith((".record", ".tfrecord", ".tfrecords"))
    )
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


def check_records(files):
    """Reads every record of `files` once and compares the counts with the
    writer's `manifest.json` when there is one (see the module docstring).
    A corrupt or truncated file fails with its name (`DataError`). Returns
    `(schema, number of records per file)`."""
    tf = _tf()
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


def read_records(path):
    """Yields `LightCurve`s (float64 times) from record files, eagerly."""
    tf = _tf()
    files = record_files(path)
    schema, _ = check_records(files)
    parse = parse_function(schema)
    for file in files:
        for raw in tf.data.TFRecordDataset(file).batch(256):
            batch = {k: v.numpy() if hasattr(v, "numpy") else v for k, v in parse(raw).items()}
            for i in range(len(batch["id"])):
                class_name = batch["class_name"][i].decode()
                label = int(batch["label"][i])
                yield LightCurve(
                    batch["id"][i].decode(),
                    np.asarray(batch["time"][i], np.float64),
                    np.asarray(batch["mag"][i], np.float64),
                    np.asarray(batch["err"][i], np.float64),
                    band=np.asarray(batch["band"][i]),
                    label=class_name or (label if label >= 0 else None),
                    meta={"key": int(batch["key"][i]), "label_index": label, "file": file},
                )


SHARD_NAME = re.compile(r"shard-\d+-of-\d+\.record$")


def write_records(light_curves, out_dir, splits=None, shards=8, seed=0, schema="main-code",
                  class_names=None, band_names=None, config=None, report=None, extra=None):
    """Writes light curves to `out_dir/<split>/shard-XXX-of-YYY.record` plus
    `manifest.json` (counts per split, shard and class, and `config`).

    Shard files of an earlier write into the same split folders are removed
    first, and `manifest.json` is written last (a `manifest.json.writing`
    marker stands in for it meanwhile): readers refuse a folder whose write
    did not finish, and compare every shard with the counts written here.

    Args:
        light_curves: iterable of `LightCurve` (already cleaned). A value
            that is not finite as float32 fails (`DataError` naming the
            light curve): records never hold NaN or inf.
        splits: `{"train": 0.8, "val": 0.1, "test": 0.1}` (default), or a
            dict id -> split name (fixed splits).
        shards: files per split (>= 8 lets several workers each read files).
        seed: seed of the random split.
        class_names: sorted class names; `Label` is the index in it.
        band_names: band names of multi-band data (index = position).
        report: a `CleaningReport` to store in the manifest.
        extra: more counts for the manifest (e.g. light curves left out
            before cleaning), added under their own keys.
    """
    tf = _tf()
    if int(shards) < 1:
        raise DataError(f"shards must be >= 1, got {shards}.")
    fractions = None
    if splits is None or all(isinstance(v, (int, float)) for v in splits.values()):
        fractions = splits or {"train": 0.8, "val": 0.1, "test": 0.1}
        total = sum(fractions.values())
        if abs(total - 1.0) > 1e-6:
            raise DataError(f"Split fractions must add up to 1, got {fractions} (sum {total}).")
        names = list(fractions)
        edges = np.cumsum([fractions[n] for n in names])
    else:
        splits = {str(k): str(v) for k, v in splits.items()}
        names = sorted(set(splits.values()))
    rng = np.random.default_rng(seed)
    writers, counts, per_class, next_shard, per_shard = {}, {}, {}, {}, {}
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, MANIFEST)
    unfinished = manifest_path + ".writing"
    with open(unfinished, "w") as f:
        f.write("records are being written; this folder is unusable until manifest.json replaces this file\n")
    if os.path.exists(manifest_path):
        os.remove(manifest_path)
    shard_names = [f"shard-{k:03d}-of-{shards:03d}.record" for k in range(shards)]
    for name in names:
        folder = os.path.join(out_dir, name)
        os.makedirs(folder, exist_ok=True)
        for old in os.listdir(folder):
            if SHARD_NAME.fullmatch(old):
                os.remove(os.path.join(folder, old))
        writers[name] = [tf.io.TFRecordWriter(os.path.join(folder, f)) for f in shard_names]
        counts[name], per_class[name], next_shard[name], per_shard[name] = 0, {}, 0, [0] * shards
    class_index = {c: i for i, c in enumerate(class_names or [])}
    skipped = 0
    try:
        for key, lc in enumerate(light_curves):
            if fractions is not None:
                split = names[int(np.searchsorted(edges, rng.uniform(), side="right").clip(0, len(names) - 1))]
            else:
                split = splits.get(str(lc.id))
                if split is None:
                    skipped += 1
                    continue
            shard = next_shard[split]
            next_shard[split] = (shard + 1) % shards
            label_index = class_index.get(lc.label, -1) if lc.label is not None else -1
            writers[split][shard].write(
                serialize(lc, key=key, label_index=label_index, shard=shard, schema=schema, band_names=band_names)
            )
            counts[split] += 1
            per_shard[split][shard] += 1
            cls = "" if lc.label is None else str(lc.label)
            per_class[split][cls] = per_class[split].get(cls, 0) + 1
    finally:
        for files in writers.values():
            for w in files:
                w.close()
    manifest = {
        "schema": schema,
        "shards_per_split": shards,
        "seed": seed,
        "splits": {n: {"light_curves": counts[n], "per_class": per_class[n],
                       "shards": dict(zip(shard_names, per_shard[n]))} for n in names},
        "class_names": list(class_names or []),
        "band_names": list(band_names or []),
        "not_in_fixed_splits": skipped,
        "config": config or {},
    }
    for k, v in (extra or {}).items():
        manifest.setdefault(k, v)
    if report is not None:
        from dataclasses import asdict

        cleaning = asdict(report)
        cleaning["too_short_ids"] = cleaning["too_short_ids"][:100]
        cleaning["filtered_ids"] = cleaning["filtered_ids"][:100]
        manifest["cleaning"] = cleaning
    with open(manifest_path + ".tmp", "w") as f:
        json.dump(manifest, f, indent=2)
    os.replace(manifest_path + ".tmp", manifest_path)
    os.remove(unfinished)
    return manifest
