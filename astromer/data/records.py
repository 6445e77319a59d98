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

Our writer also puts `manifest.json` next to the split folders, which every
reader checks (`astromer.data.record_checks`).

Reading needs TensorFlow (imported when a function here is called).
"""

import json
import os
import re

import numpy as np

from astromer.data.lightcurves import LightCurve
from astromer.data.record_checks import MANIFEST, check_records, record_files
from astromer.data.record_checks import tensorflow as _tf
from astromer.errors import DataError

SCHEMAS = ("main-code", "python-library")


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
