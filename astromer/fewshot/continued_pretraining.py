"""Continued pretraining: the encoder trained further on a fold's training
light curves before the frozen heads read it (`--finetune self`).

The encoder continues its masked-reconstruction objective on the training
objects only (validation objects for early stopping), so the test objects
stay unseen. The training itself is the training workflow's, given to the
few-shot run by its caller (`trainer`, e.g.
`astromer.training.continued.continue_training`): a workflow does not
import another.
"""

import copy


def training_light_curves(model, light_curves_by_id, ids, bands=None):
    """The light curves of `ids` continued pretraining reads, packed: a joint
    multi-band encoder's objects with all their bands; for a single-band
    encoder each band of `bands` (default: the light curve's) as a light
    curve of its own (`id|band`, those of at least 5 observations)."""
    from astromer.data.datasets import PackedLightCurves
    from astromer.data.lightcurves import LightCurve

    band_names = getattr(model.backbone, "band_names", None)
    lcs = []
    for i in dict.fromkeys(ids):
        lc = light_curves_by_id[i]
        if band_names or lc.band is None:
            lcs.append(lc)
            continue
        for band in bands or lc.band_names():
            part = lc.only_bands([band])
            if len(part) >= 5:
                lcs.append(LightCurve(f"{lc.id}|{band}", part.time, part.mag, part.err, label=lc.label))
    return PackedLightCurves.from_light_curves(lcs, band_names=band_names)


def continue_pretraining(model, config, light_curves_by_id, ids, out_dir, settings, trainer, bands=None):
    """`model` trained further on `ids["train"]` (early stopping on
    `ids["val"]`) by `trainer(model, config, train, val, out_dir)`, with the
    `ContinuedPretrainingSettings` `settings`: its epochs, learning rate and
    encoder dropout; its batch (default: the preset's, at most 64), never
    more than the training light curves; patience at most 5 and no warm-up.
    Returns the trained model, or `model` itself when the trainer says no
    epoch beat its validation loss (returns None). Raises ValueError when
    the split has too few light curves to train on."""
    train = training_light_curves(model, light_curves_by_id, ids["train"], bands)
    val = training_light_curves(model, light_curves_by_id, ids["val"], bands)
    if len(train) < 2 or len(val) < 1:
        raise ValueError(f"{len(train)} training and {len(val)} validation light curves are too few to finetune on.")
    config = copy.deepcopy(config)
    pretraining = config["pretraining"]
    # A 2-class task at 20 per class has 40 training light curves.
    batch = int(settings.batch_size) if settings.batch_size else min(int(pretraining["batch_size"]), 64)
    pretraining.update(epochs=int(settings.epochs), learning_rate=float(settings.learning_rate), warmup_steps=0,
                       batch_size=min(batch, len(train)), patience=min(int(pretraining.get("patience", 20)), 5))
    dropout = {} if settings.dropout is None else {"dropout": float(settings.dropout)}
    trained = trainer(model.with_settings(**dropout), config, train, val, out_dir)
    return model if trained is None else trained
