"""The `astromer-fewshot` workflow from files: read, clean, run, plot.

`run_from_files(settings)` is what the command does once its settings are
built; a bad option or unreadable input raises `ConfigError` before any
training (the command prints it in one line and exits with 2).
"""

import dataclasses
import os

from astromer.data.time_scale import shifted
from astromer.errors import ConfigError
from astromer.fewshot.methods import family_of
from astromer.fewshot.protocol import run


def run_from_files(settings, trainer=None):
    """Runs the benchmark of `settings` (`FewshotSettings`) on the table
    `settings.data` and the label CSV `settings.labels` (id,label) with the
    encoder of `settings.weights` (or a random one of `settings.preset`, "a2"
    by default; none when every method works without one); writes
    everything to `settings.out` and prints the summary. The hand-crafted
    features and the trained methods read the benchmark's cleaned light
    curves (errors outside (0, 1) dropped); the encoder reads them as read,
    through its compat mode. `trainer`: see `astromer.fewshot.run`.
    Returns the per-fold results (`run`'s DataFrame).
    """
    from astromer.core.factory import build_pretrainer, resolve_config
    from astromer.core.loading import load_for_finetuning
    from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curves
    from astromer.data.lightcurves import iter_light_curves, read_labels

    needs_model = any(family_of(m).needs_model for m in settings.methods)
    try:
        label_of = read_labels(settings.labels)
        if settings.weights:
            model, config = load_for_finetuning(settings.weights, settings.preset)
        elif needs_model:
            config = resolve_config(settings.preset or "a2")
            model = build_pretrainer(config)
        else:
            # Hand-crafted features only: no encoder is read.
            model, config = None, None
        cleaning = CleaningReport()
        raw = _only_bands(list(iter_light_curves(settings.data)), settings.bands)
        if settings.time_offset:
            # Before anything reads them: the encoder's float32 centring
            # (compat original) needs MJD-like times (astromer.data.time_scale).
            raw = [shifted(lc, settings.time_offset) for lc in raw]
        light_curves = list(clean_light_curves(raw, CleaningConfig(min_observations=1), cleaning))
        if model is not None:
            from astromer.compat import resolve_compat

            resolve_compat(settings.compat, model.backbone)
    except (ValueError, FileNotFoundError) as error:
        raise ConfigError(str(error)) from error
    if not light_curves:
        raise ConfigError(f"no usable light curve in {settings.data!r}:\n{cleaning.summary()}")
    print("benchmark cleaning (features and trained methods; the encoder's is its compat's):")
    print(cleaning.summary())
    if settings.continues_pretraining:
        settings = dataclasses.replace(settings, suffix=" (finetuned)")
    frame = run(settings, light_curves, label_of, model, config, encoder_light_curves=raw, trainer=trainer)
    with open(os.path.join(settings.out, "summary.md")) as f:
        print(f.read())
    if settings.attention_maps and model is not None:
        draw_attention_maps(model.backbone, light_curves, label_of, settings)
    print(f"outputs in {settings.out}")
    return frame


def _only_bands(light_curves, bands):
    """The observations of `bands` (all when None), so that the cleaning
    report counts the bands the run reads. A band no light curve has is an
    error naming the bands there are."""
    if not bands:
        return light_curves
    from astromer.data.lightcurves import bands_of, no_band_column

    present = bands_of(light_curves)
    if not present and light_curves:
        raise ValueError(no_band_column(bands, option="--band / --bands"))
    missing = [b for b in bands if str(b) not in present]
    if missing:
        raise ValueError(f"band(s) {missing} not in the light curves; their bands are {present}")
    return [lc.only_bands(bands) for lc in light_curves]


def draw_attention_maps(backbone, light_curves, labels, settings):
    """Attention maps of the first `settings.attention_maps` light curves of
    each class (only `settings.band`'s observations when given), folded by
    the periods of the CSV `settings.periods` (id and one period column)
    where it has them."""
    import pandas as pd

    from astromer.fewshot import plots

    period_of = {}
    if settings.periods:
        p = pd.read_csv(settings.periods, dtype={"id": str})
        period_of = dict(zip(p["id"], p[[c for c in p.columns if c != "id"][0]]))
    by_class = {}
    for lc in light_curves:
        label = labels.get(lc.id)
        if label is not None and len(by_class.setdefault(str(label), [])) < settings.attention_maps:
            if settings.band is not None:
                lc = lc.only_bands([settings.band])
            by_class[str(label)].append(lc)
    for label, lcs in by_class.items():
        for lc in lcs:
            plots.attention_maps(backbone, lc, os.path.join(settings.out, f"attention_{label}_{lc.id}.png"),
                                 period=period_of.get(lc.id), title=f"{label} {lc.id}")
