"""From a survey table to sharded TFRecords: read, clean (with counts), split, write.

Used by `pipelines/make_records.py` and by `astromer-train` when it is given
a Parquet/CSV table.
"""

import os

from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curves
from astromer.data.lightcurves import iter_light_curves, read_labels, read_table
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

    frame = read_table(table)
    if band is not None:
        if "band" not in frame.columns:
            raise ValueError(f"band={band!r} was asked for but the table has no band column.")
        bands = sorted(frame["band"].astype(str).unique())
        if band not in bands:
            raise ValueError(f"Band {band!r} is not in the table; its bands are {bands}.")
        frame = frame[frame["band"].astype(str) == band]
    label_map = read_labels(labels) if isinstance(labels, (str, os.PathLike)) else labels
    class_names = sorted({str(v) for v in label_map.values()}) if label_map else None
    if label_map:
        label_map = {k: str(v) for k, v in label_map.items()}
        table_ids = set(frame["id"].astype(str).unique())
        unlabeled = len(table_ids - set(label_map))
        missing = len(set(label_map) - table_ids)
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
    band_names = sorted(frame["band"].astype(str).unique()) if multi_band else None
    manifest = write_records(
        light_curves, output, splits=splits, shards=shards, seed=seed, schema=schema,
        class_names=class_names, band_names=band_names, report=report,
        config={"cleaning": vars(config), "band": band, "source": str(table) if isinstance(table, (str, os.PathLike)) else "DataFrame"},
    )
    if verbose:
        print(report.summary())
        for name, split in manifest["splits"].items():
            print(f"  {name}: {split['light_curves']} light curves")
    return manifest
