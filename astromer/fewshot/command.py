"""The `astromer-fewshot` workflow from files: read, clean, run, plot.

`run_from_files` is what the command does after parsing its arguments; a
`UsageError` ends the command as every user error does (one line, exit 2:
`astromer.cli.errors.console_script`).
"""

import os

from astromer.data.time_scale import shifted
from astromer.errors import AstromerError
from astromer.fewshot.methods import METHODS, family_of
from astromer.fewshot.protocol import check_options, run
from astromer.fewshot.supervised import SUPERVISED_SETTINGS


class UsageError(AstromerError):
    """A bad option or unreadable input, found before any training: the
    command prints it and exits with 2 (errors of the run itself are not
    this)."""


def run_from_files(data, labels, out="runs/fewshot", weights=None, preset=None, band=None, bands=None,
                   variant=("single",), spcs=(20, 100, 500), folds=3, only_folds=None, splits_dir=None,
                   methods=("a2", "max_pool", "linear", "logreg"), finetune=False, finetune_epochs=10,
                   finetune_learning_rate=1e-4, finetune_dropout=0.0, finetune_batch_size=None, epochs=300, head_seeds=1,
                   attention_maps=0, periods=None, supervised=None, tsne=True, compat="auto", cache=True,
                   time_offset=0.0):
    """Runs the benchmark on a light-curve table (`data`) and a label CSV
    (`labels`, id,label) with the encoder of `weights` (or a random one of
    `preset`, "a2" by default); writes everything to `out` and prints the
    summary. `attention_maps` > 0 also draws that many test objects' attention
    maps per class, folded by the periods of the CSV `periods` (id,period).
    `finetune`: False, True or "self" (self-supervised finetuning of the
    encoder before the frozen heads, A2 paper Sect. 5.2), "supervised" (adds
    the method "supervised": encoder and head trained end to end), or a list
    of both (supervised finetuning then starts from the self-supervised
    encoder); `supervised` overrides `SUPERVISED_SETTINGS`. Without
    `weights` and with only hand-crafted feature methods no encoder is built.
    `tsne=False` skips the t-SNE figure.
    `compat` ("auto", "default", "original"): how the encoder reads the
    light curves, as `astromer-embed --compat` (the `Embedder`'s windows,
    centring and cleaning of errors, applied to the light curves as read);
    the hand-crafted features and the trained methods read the benchmark's
    cleaned light curves (errors outside (0, 1) dropped). `cache`: keep the
    features and the frozen encoder's embeddings per object in
    `<out>/cache` and reuse them in later runs. `time_offset`: days
    subtracted from every time as it is read.
    Returns the per-fold results (`run`'s DataFrame).

    Raises UsageError for bad options or input files (before any training).
    """
    from astromer import training
    from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curves
    from astromer.data.lightcurves import iter_light_curves, read_labels

    try:
        check_options(folds, only_folds, head_seeds)
    except ValueError as error:
        raise UsageError(str(error)) from error
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise UsageError(f"unknown method(s) {unknown}; use {list(METHODS)}")
    finetune_modes = _finetune_modes(finetune)
    unknown = sorted(set(supervised or {}) - set(SUPERVISED_SETTINGS))
    if unknown:
        raise UsageError(f"unknown supervised setting(s) {unknown}; use {sorted(SUPERVISED_SETTINGS)}")
    if "supervised" in finetune_modes and "supervised" not in methods:
        methods = (*methods, "supervised")
    needs_model = any(family_of(m).needs_model for m in methods)
    try:
        label_of = read_labels(labels)
        if weights:
            model, config = training.load_for_finetuning(weights, preset)
        elif needs_model:
            config = training.resolve_config(preset or "a2")
            model = training.build_pretrainer(config)
        else:
            # Hand-crafted features only: no encoder is read.
            model, config = None, None
        cleaning = CleaningReport()
        raw = _only_bands(list(iter_light_curves(data)), [band] if band else bands)
        if time_offset:
            # Before anything reads them: the encoder's float32 centring
            # (compat original) needs MJD-like times (astromer.data.time_scale).
            raw = [shifted(lc, time_offset) for lc in raw]
        light_curves = list(clean_light_curves(raw, CleaningConfig(min_observations=1), cleaning))
        if model is not None:
            from astromer.compat import resolve_compat

            resolve_compat(compat, model.backbone)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from error
    if not light_curves:
        raise UsageError(f"no usable light curve in {data!r}:\n{cleaning.summary()}")
    print("benchmark cleaning (features and trained methods; the encoder's is its compat's):")
    print(cleaning.summary())
    frame = run(
        light_curves, label_of, model, config, out, methods=methods, spcs=spcs, folds=folds,
        splits_dir=splits_dir, band=band, finetune="self" in finetune_modes, finetune_epochs=finetune_epochs,
        head_settings={"epochs": epochs, "seeds": head_seeds, **({"supervised": supervised} if supervised else {})},
        label_suffix=" (finetuned)" if "self" in finetune_modes else "",
        variant=variant, bands=bands, finetune_learning_rate=finetune_learning_rate,
        finetune_dropout=finetune_dropout, finetune_batch_size=finetune_batch_size, only_folds=only_folds, tsne=tsne,
        compat=compat, encoder_light_curves=raw, cache_dir=os.path.join(out, "cache") if cache else None,
    )
    with open(os.path.join(out, "summary.md")) as f:
        print(f.read())
    if attention_maps and model is not None:
        draw_attention_maps(model.backbone, light_curves, label_of, out, attention_maps, band, periods)
    print(f"outputs in {out}")
    return frame


def _only_bands(light_curves, bands):
    """The observations of `bands` (all when None), so that the cleaning
    report counts the bands the run reads. A band no light curve has is an
    error naming the bands there are."""
    if not bands:
        return light_curves
    from astromer.data.lightcurves import bands_of

    present = bands_of(light_curves)
    if not present and light_curves:
        from astromer.data.lightcurves import no_band_column

        raise ValueError(no_band_column(bands, option="--band / --bands"))
    missing = [b for b in bands if str(b) not in present]
    if missing:
        raise ValueError(f"band(s) {missing} not in the light curves; their bands are {present}")
    return [lc.only_bands(bands) for lc in light_curves]


FINETUNE_MODES = ("self", "supervised")


def _finetune_modes(finetune):
    """`finetune` as a set of modes: False/None -> {}, True -> {"self"}, a
    mode name or a list of them as given (unknown names fail)."""
    if finetune is None or finetune is False:
        return set()
    if finetune is True:
        return {"self"}
    modes = {finetune} if isinstance(finetune, str) else set(finetune) or {"self"}
    unknown = sorted(modes - set(FINETUNE_MODES))
    if unknown:
        raise UsageError(f"unknown finetuning mode(s) {unknown}; use {list(FINETUNE_MODES)}")
    return modes


def draw_attention_maps(backbone, light_curves, labels, out, per_class, band=None, periods=None):
    """Attention maps of the first `per_class` light curves of each class
    (only `band`'s observations when given), folded by the periods of the
    CSV `periods` (id and one period column) where it has them."""
    import pandas as pd

    from astromer.fewshot import plots

    period_of = {}
    if periods:
        p = pd.read_csv(periods, dtype={"id": str})
        period_of = dict(zip(p["id"], p[[c for c in p.columns if c != "id"][0]]))
    by_class = {}
    for lc in light_curves:
        label = labels.get(lc.id)
        if label is not None and len(by_class.setdefault(str(label), [])) < per_class:
            if band is not None:
                lc = lc.only_bands([band])
            by_class[str(label)].append(lc)
    for label, lcs in by_class.items():
        for lc in lcs:
            plots.attention_maps(backbone, lc, os.path.join(out, f"attention_{label}_{lc.id}.png"),
                                 period=period_of.get(lc.id), title=f"{label} {lc.id}")
