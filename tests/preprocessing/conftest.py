import hashlib

import numpy as np
import pytest

from tests.conftest import shared_path


@pytest.fixture(scope="session")
def eros_r():
    """The first 300 EROS-1 light curves of band EROS_R (id, time, mag, err)."""
    import pandas as pd

    from astromer.data.lightcurves import iter_light_curves

    table = pd.read_parquet(shared_path("data", "eros1_lmc", "lightcurves.parquet"))
    table = table[table["band"] == "EROS_R"]
    return list(iter_light_curves(table[table["id"].isin(table["id"].drop_duplicates().iloc[:300])]))


def digest(arrays):
    """The bytes of `arrays` (so +0.0 and -0.0 differ), hashed."""
    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]
