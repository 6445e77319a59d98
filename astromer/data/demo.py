"""A simulated variable-star survey: the demo set of `astromer-train`.

Five kinds of light curves, observed with an irregular ground-based cadence
(visits of one to three exposures, random weather losses and a
seasonal gap every year) and magnitude-dependent errors:

- "RRL": RR Lyrae-like, P 0.4-0.8 d, 0.4-1.2 mag, fast rise and slow decline;
- "Cep": Cepheid-like, P 2-50 d (log-uniform), 0.3-1.0 mag, skewed;
- "EB": eclipsing binaries, P 0.3-10 d, primary and secondary eclipses;
- "LPV": long-period (Mira-like), P 100-500 d, 1-4 mag, with a slow trend;
- "noise": constant stars.

Everything comes from one `numpy.random.default_rng(seed)`, so the set is the
same on every machine.
"""

import numpy as np

from astromer.data.lightcurves import LightCurve

CLASSES = ("RRL", "Cep", "EB", "LPV", "noise")
# The demo survey a run trains on without --data (a preset's `demo` section overrides).
DEMO_DEFAULTS = {"light_curves": 1500, "seed": 0}


def survey_cadence(rng, n_target, start=55000.0):
    """Irregular observation times (MJD): nights in yearly seasons of ~230
    days, a visit on ~30% of nights, 1-3 exposures of a visit ~15 min apart."""
    times = []
    night = 0.0
    while len(times) < n_target:
        in_season = (night % 365.25) < rng.uniform(200, 260)
        if in_season and rng.uniform() < 0.3:
            exposures = rng.integers(1, 4)
            t0 = start + night + rng.uniform(0.1, 0.4)
            times.extend(t0 + np.arange(exposures) * rng.uniform(0.008, 0.015))
        night += 1.0
    return np.asarray(times[:n_target])


def _fourier(phase, amplitudes, phases):
    k = np.arange(1, len(amplitudes) + 1)
    return (amplitudes[None] * np.sin(2 * np.pi * k[None] * phase[:, None] + phases[None])).sum(1)


def light_curve_shape(rng, kind, time):
    """Noise-free magnitude variation (0 mean) of a light curve of `kind`."""
    if kind == "RRL":
        period, amp = rng.uniform(0.4, 0.8), rng.uniform(0.4, 1.2)
        amps = amp * np.array([0.5, 0.25, 0.12, 0.06])
        phase = (time / period + rng.uniform()) % 1
        return -_fourier(phase, amps, np.array([0.0, 0.9, 1.8, 2.7]) + rng.normal(0, 0.1, 4))
    if kind == "Cep":
        period = np.exp(rng.uniform(np.log(2), np.log(50)))
        amps = rng.uniform(0.3, 1.0) * np.array([0.5, 0.2, 0.08])
        phase = (time / period + rng.uniform()) % 1
        return -_fourier(phase, amps, np.array([0.0, 1.2, 2.4]) + rng.normal(0, 0.2, 3))
    if kind == "EB":
        period = np.exp(rng.uniform(np.log(0.3), np.log(10)))
        phase = (time / period + rng.uniform()) % 1
        width = rng.uniform(0.03, 0.1)
        primary, secondary = rng.uniform(0.2, 1.0), rng.uniform(0.05, 0.5)
        dist = lambda c: np.minimum(np.abs(phase - c), 1 - np.abs(phase - c))  # noqa: E731
        return primary * np.exp(-0.5 * (dist(0.0) / width) ** 2) + secondary * np.exp(-0.5 * (dist(0.5) / width) ** 2)
    if kind == "LPV":
        period, amp = rng.uniform(100, 500), rng.uniform(1.0, 4.0)
        phase = (time / period + rng.uniform()) % 1
        trend = rng.normal(0, 0.3) * (time - time.mean()) / 1000
        return amp / 2 * np.sin(2 * np.pi * phase) + trend
    if kind == "noise":
        return np.zeros_like(time)
    raise ValueError(f"Unknown kind {kind!r}; use one of {CLASSES}.")


def simulate_light_curve(rng, kind, index=0, min_obs=40, max_obs=600, bands=None):
    """One simulated `LightCurve` of class `kind`; with `bands` (names), each
    observation is in one band, with a colour offset and a band-dependent
    amplitude (bluer bands vary more, as pulsating stars do)."""
    n = int(rng.integers(min_obs, max_obs + 1))
    time = survey_cadence(rng, n, start=rng.uniform(50000, 56000))
    base = rng.uniform(14.0, 19.5)
    signal = light_curve_shape(rng, kind, time)
    band = None
    if bands:
        which = rng.integers(0, len(bands), n)
        colours = np.cumsum(np.concatenate([[0.0], rng.uniform(0.2, 0.8, len(bands) - 1)]))[::-1]
        amplitude = np.linspace(1.3, 1.0, len(bands))
        base = base + colours[which]
        signal = signal * amplitude[which]
        band = np.asarray(bands)[which]
    # Photometric errors grow with magnitude (sky-limited at the faint end).
    mag_true = base + signal
    err = np.sqrt(0.008**2 + (0.02 * 10 ** (0.4 * (mag_true - 18.0))) ** 2)
    err = np.clip(err * rng.lognormal(0, 0.15, n), 0.005, 0.5)
    mag = mag_true + rng.normal(0, err)
    return LightCurve(f"{kind}_{index:06d}", time, mag, err, band=band, label=kind)


def simulate_survey(n_light_curves, seed=0, classes=CLASSES, min_obs=40, max_obs=600, bands=None):
    """`n_light_curves` simulated light curves, classes in equal shares
    (several bands per light curve when `bands` names them)."""
    rng = np.random.default_rng(seed)
    return [
        simulate_light_curve(rng, classes[i % len(classes)], i, min_obs, max_obs, bands=bands)
        for i in range(int(n_light_curves))
    ]


def simulate_table(path, n_light_curves, seed=0, chunk=2000, min_obs=20, max_obs=400):
    """Writes a large simulated catalogue to Parquet quickly (vectorised
    sinusoids with noise, irregular times), `chunk` light curves per row
    group. For scale tests (memory, throughput), not for science."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    try:
        for start in range(0, int(n_light_curves), chunk):
            count = min(chunk, int(n_light_curves) - start)
            lengths = rng.integers(min_obs, max_obs + 1, count)
            total = int(lengths.sum())
            owner = np.repeat(np.arange(count), lengths)
            gaps = rng.exponential(2.0, total)
            first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            gaps[first] = rng.uniform(50000, 56000, count)
            time = np.cumsum(gaps)
            time -= np.repeat(np.concatenate([[0], time[first[1:] - 1]]), lengths)
            period = np.exp(rng.uniform(np.log(0.3), np.log(300), count))[owner]
            amplitude = rng.uniform(0, 1, count)[owner]
            err = rng.uniform(0.01, 0.2, total)
            mag = rng.uniform(14, 20, count)[owner] + amplitude * np.sin(2 * np.pi * time / period) + rng.normal(0, err)
            frame = pd.DataFrame({"id": [f"sim{start + i:08d}" for i in owner], "time": time, "mag": mag, "err": err})
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path
