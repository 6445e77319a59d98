"""From a survey table to sharded TFRecords: read, clean (with counts), split, write.

Used by `pipelines/make_records.py` and by `astromer-train` when it is given
a Parquet/CSV table.

Nothing is left out without a count: light curves without an observation
in the chosen band (`band=`), those dropped by cleaning, those outside
fixed splits, all are printed and stored in `manifest.json`. Band values
are strings (`1` and `"1"` are the same band); a row without a band (NaN,
None or empty) is a `DataError` with the number of such rows
(`astromer.data.validation`), not dropped: which band it belongs to is
unknown, and guessing would mix bands.
"""

import os

import numpy as np

from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curves
from astromer.data.lightcurves import iter_light_curves, read_labels, read_table
from astromer.errors import DataError
from astromer.progress import progress

def table_to_records(table, output, labels=None, splits=None, shards=8, seed=0,
                     cleaning=None, band=None, schema="main-code", verbose=True):
    """Converts a Parquet/CSV table (or folder of them) into sharded records.

    Args:
        table: path (or DataFrame) with columns id, time, mag, err[, band].
        output: folder for `<split>/shard-*.record` and `manifest.json`.
        labels: optional `id,label` CSV path (or dict).
        splits: fractions `{"train": .8, "val": .1, "test": .1}`, or a
            dict id -> split for fixed splits.
        shards: files per split.
        cleaning: `CleaningConfig` or dict (see `astromer.data.cleaning`).
        band: keep only this band (single-band models), e.g. "EROS_R".

    Returns the manifest dict (also written to `output/manifest.json`).
    """
    from astromer.data.records import write_records

    source = repr(os.fspath(table)) if isinstance(table, (str, os.PathLike)) else "the table"
    # Ids and bands come as strings, and a row without a band is an error,
    # from the table's validation (astromer.data.validation).
    frame = read_table(table)
    extra = {}
    if band is not None:
        band = str(band)
        if "band" not in frame.columns:
            raise DataError(f"band={band!r} was asked for but {source} has no band column.")
        bands = sorted(frame["band"].unique())
        if band not in bands:
            raise DataError(f"Band {band!r} is not in {source}; its bands are {bands}.")
        all_ids = frame["id"].unique()
        frame = frame[frame["band"] == band]
        missing_ids = sorted(set(all_ids) - set(frame["id"].unique()))
        without, all_ids = len(missing_ids), len(all_ids)
        extra["light_curves_without_band"] = without
        extra["ids_without_band"] = missing_ids[:100]  # like the cleaning report's id lists
        if verbose:
            print(f"band {band}: {without} of {all_ids} light curves have no observation in {band} "
                  f"and are not written")
    label_map = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else labels
    if label_map:
        label_map = {str(k): v for k, v in label_map.items()}
        no_label = sorted(k for k, v in label_map.items() if v is None or (isinstance(v, float) and np.isnan(v))
                          or (isinstance(v, str) and not v.strip()))
        if no_label and verbose:
            print(f"labels: {len(no_label)} label(s) are empty (e.g. {no_label[0]!r}): those light curves "
                  "are written without a label")
        label_map = {k: str(v) for k, v in label_map.items() if k not in set(no_label)}
    class_names = sorted(set(label_map.values())) if label_map else None
    if label_map:
        table_ids = set(frame["id"].unique())
        unlabeled = len(table_ids - set(label_map))
        missing = len(set(label_map) - table_ids)
        extra["light_curves_without_label"] = unlabeled
        if verbose and (unlabeled or missing):
            print(f"labels: {unlabeled} light curves have no label; {missing} labels name ids not in the table")
    config = cleaning if isinstance(cleaning, CleaningConfig) else CleaningConfig.from_dict(cleaning)
    report = CleaningReport()
    total = frame["id"].nunique()
    light_curves = clean_light_curves(iter_light_curves(frame, labels=label_map), config, report)
    if verbose:
        print(f"converting {total} light curves from {table if isinstance(table, str) else 'table'} -> {output}")
        light_curves = progress(light_curves, total=total, unit="light curves", desc="writing records")
    multi_band = "band" in frame.columns and band is None and frame["band"].nunique() > 1
    band_names = sorted(frame["band"].unique()) if multi_band else None
    manifest = write_records(
        light_curves, output, splits=splits, shards=shards, seed=seed, schema=schema,
        class_names=class_names, band_names=band_names, report=report, extra=extra,
        config={"cleaning": vars(config), "band": band, "source": str(table) if isinstance(table, (str, os.PathLike)) else "DataFrame"},
    )
    if verbose:
        print(report.summary())
        written = sum(split["light_curves"] for split in manifest["splits"].values())
        if manifest["not_in_fixed_splits"]:
            print(f"  left out {manifest['not_in_fixed_splits']} light curves that are in none of the fixed splits")
        print(f"wrote {written} of {total} light curves:")
        for name, split in manifest["splits"].items():
            print(f"  {name}: {split['light_curves']} light curves")
    return manifest
