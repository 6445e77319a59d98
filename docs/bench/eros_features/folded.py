"""Features + the embedding of the *folded* light curve (docs/features.md,
"Explored on validation objects, not adopted").

    python docs/bench/eros_features/folded.py --weights runs/per-band --bands EROS_R \
        --out docs/bench/eros_features/folded_per_band_eros_r.csv

The 44 features see the period (the periodogram's peaks) but not the shape
of the light curve over one cycle, which is what tells an RR Lyrae from a
Cepheid or an eclipsing binary by eye. Here every light curve is folded at
the period of its own highest periodogram peak (a feature computed from the
light curve, never the catalogue's period), sorted by phase and given the
times phase x SPAN days; the encoder embeds that sequence, and fusion.py's
schemes join its embedding with the features, each scored on validation
and test objects of every (fold, samples per class) cell. Light curves whose
periodogram is NaN (too few observations) are embedded unfolded and
counted. Single band only (`--bands` one band).
"""

import numpy as np

from fusion import arguments, load_features, score_schemes

# Days one cycle is spread over: a survey-like time span, so the folded
# sequence looks to the encoder like a densely sampled light curve.
SPAN = 1000.0


def fold(light_curve, period, span=SPAN):
    """The light curve folded at `period` (days): sorted by phase, times
    phase x `span`."""
    from astromer.data.lightcurves import LightCurve

    phase = np.mod(light_curve.time - light_curve.time.min(), period) / period
    order = np.argsort(phase, kind="stable")
    band = None if light_curve.band is None else light_curve.band[order]
    return LightCurve(light_curve.id, phase[order] * span, light_curve.mag[order], light_curve.err[order], band=band)


def folded_light_curves(light_curves, table, span=SPAN):
    """Every light curve folded at its highest periodogram peak, and how many
    were left unfolded (no period)."""
    column = [c for c in table.columns if c.endswith("period_0")]
    if len(column) != 1:
        raise ValueError(f"expected one highest-peak period column, found {column}; fold one band at a time.")
    period = table[column[0]]
    out, unfolded = [], 0
    for lc in light_curves:
        p = period.get(lc.id, np.nan)
        if np.isfinite(p) and p > 0:
            out.append(fold(lc, p, span))
        else:
            out.append(lc)
            unfolded += 1
    return out, unfolded


def main(argv=None):
    from astromer.core.loading import load_backbone
    from astromer.fewshot.encoder_features import EncoderFeatures, EncoderPasses

    args = arguments(__doc__, argv)
    if len(args.bands) != 1:
        raise SystemExit(f"folded.py reads one band; got --bands {args.bands}.")
    light_curves, table = load_features(args.data, args.bands)
    folded, unfolded = folded_light_curves(light_curves, table)
    print(f"{len(folded) - unfolded:,} light curves folded, {unfolded:,} without a period embedded unfolded")
    encoder = EncoderFeatures(EncoderPasses(load_backbone(args.weights), folded), args.variant, args.bands)
    score_schemes(args, table, encoder.ids, encoder.mean_layers[:, -1])


if __name__ == "__main__":
    main()
