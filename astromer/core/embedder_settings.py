"""A workflow's settings -> its `Embedder`: `astromer-embed`'s
`EmbedSettings` and the survey's `SurveySettings` carry the Embedder's
arguments under the same names, and build it here, once for both."""

import dataclasses

# The Embedder arguments such settings carry under the same names.
SETTINGS_FIELDS = ("layer", "pooling", "band", "window_mode", "float32_first", "batch_size", "compat", "on_error",
                   "time_offset", "padding_free")


def embedder_from_settings(settings):
    """The `Embedder` of `settings`: its `weights`, `preset`, the
    `SETTINGS_FIELDS` and `cleaning` (when it has one), then
    `cleaning_overrides` (a dict or `(name, value)` pairs) replacing
    thresholds of the cleaning the compat mode chose."""
    from astromer.core.embedder import Embedder

    kwargs = {name: getattr(settings, name) for name in SETTINGS_FIELDS}
    if getattr(settings, "cleaning", None) is not None:
        kwargs["cleaning"] = settings.cleaning
    embedder = Embedder.from_weights(settings.weights, preset=settings.preset, **kwargs)
    if settings.cleaning_overrides:
        embedder.cleaning = dataclasses.replace(embedder.cleaning, **dict(settings.cleaning_overrides))
    return embedder
