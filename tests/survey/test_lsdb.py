"""Embeddings as columns of an LSDB catalogue (`survey.catalog`) and a HATS
catalogue as a job's partitions (`survey.hats`), on EROS-1 light curves
nested with nested-pandas.

EROS-1 has no sky coordinates in ../shared (its ids are field and star
numbers), so the catalogue built here gets synthetic ones: uniform in a
box around the LMC (ra 70-90 deg, dec -72 to -66 deg, seed 0), enough
for LSDB to spread the objects over several HEALPix pixels.
"""

import numpy as np
import pandas as pd
import pytest

from astromer.errors import ConfigError
from tests.conftest import shared_path

pytest.importorskip("lsdb")
pytest.importorskip("distributed")

N_OBJECTS = 120
BAND = "EROS_R"


@pytest.fixture(scope="module")
def eros():
    """`(flat rows, NestedFrame)` of the first N_OBJECTS EROS-1 stars (both
    bands; the model reads EROS_R) with synthetic ra/dec (module docstring)."""
    import nested_pandas as npd

    flat = pd.read_parquet(shared_path("data", "eros1_lmc", "lightcurves.parquet"))
    ids = sorted(flat["id"].unique())[:N_OBJECTS]
    flat = flat[flat["id"].isin(ids)].reset_index(drop=True)
    rng = np.random.default_rng(0)
    base = pd.DataFrame({"id": ids, "ra": rng.uniform(70, 90, len(ids)), "dec": rng.uniform(-72, -66, len(ids))},
                        index=ids)
    nested = npd.NestedFrame(base).join_nested(flat.set_index("id")[["time", "mag", "err", "band"]], "lc")
    return flat, nested.reset_index(drop=True)


@pytest.fixture(scope="module")
def catalog(eros):
    import lsdb

    cat = lsdb.from_dataframe(eros[1], ra_column="ra", dec_column="dec", lowest_order=4, highest_order=8,
                              partition_rows=30)
    assert cat.npartitions >= 3, cat.npartitions  # several pixels, or the test shows nothing
    return cat


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from tests.harness import tiny_pretrainer

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_pretrainer(16, seed=0).save(path)
    return str(path)


@pytest.fixture(scope="module")
def reference(eros, weights):
    """The one-process path: `Embedder` on the flat rows, by id."""
    from astromer.core.embedder import Embedder

    table = Embedder.from_weights(weights, band=BAND)(eros[0])
    assert len(table) == N_OBJECTS
    return table.set_index("id")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def _models_loaded():
    from astromer.survey.task import models_loaded

    return models_loaded()


def _assert_same_embeddings(frame, reference, prefix="astromer_"):
    from astromer.survey.catalog import embedding_matrix

    ids = frame["id"].astype(str).to_numpy()
    assert sorted(ids) == sorted(reference.index), "every object exactly once"
    expected = np.stack(reference.loc[ids, "embedding"].to_numpy())
    np.testing.assert_allclose(embedding_matrix(frame, prefix), expected, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(frame[f"{prefix}n_obs"].to_numpy(), reference.loc[ids, "n_obs"].to_numpy())
    np.testing.assert_array_equal(frame[f"{prefix}n_windows"].to_numpy(), reference.loc[ids, "n_windows"].to_numpy())


@pytest.mark.slow
def test_catalog_embedded_lazily_on_two_workers_equals_one_process_and_writes_as_hats(
        catalog, weights, reference, client, tmp_path):
    import lsdb

    from astromer.survey.catalog import embed_catalog

    embedded = embed_catalog(catalog, weights, band=BAND)
    assert isinstance(embedded, lsdb.Catalog)
    # Lazy: no worker has built a model yet.
    assert set(client.run(_models_loaded).values()) == {0}

    # Inside the user's pipeline: a query on a new column, then a crossmatch.
    kept = embedded.query("astromer_n_windows > 0")
    computed = kept.compute(progress_bar=False)
    _assert_same_embeddings(computed, reference)
    # One model per worker process, however many pixels each ran.
    assert set(client.run(_models_loaded).values()) == {1}

    others = lsdb.from_dataframe(computed[["id", "ra", "dec"]].rename(columns={"id": "other_id"}).iloc[::3],
                                 ra_column="ra", dec_column="dec", lowest_order=2, highest_order=5)
    matched = kept.crossmatch(others, radius_arcsec=1, n_neighbors=1, suffix_method="overlapping_columns").compute(
        progress_bar=False)
    assert len(matched) == len(others.compute(progress_bar=False))
    assert (matched["id"].astype(str) == matched["other_id"].astype(str)).all()
    _assert_same_embeddings(matched, reference.loc[matched["id"].astype(str)])

    # Written as HATS from the lazy catalogue, read back with the same values.
    embedded.to_hats(tmp_path / "embedded", catalog_name="embedded", progress_bar=False)
    back = lsdb.open_catalog(tmp_path / "embedded").compute(progress_bar=False)
    _assert_same_embeddings(back, reference)
    assert back["astromer_emb_0"].dtype.name.startswith("float")


def test_nested_and_dask_frames_with_features_equal_the_one_process_path(eros, weights, reference):
    import dask.dataframe as dd

    from astromer.core.features import light_curve_features
    from astromer.survey.catalog import embed_catalog

    flat, nested = eros
    few = nested.iloc[:12]
    max_baseline = 900.0
    out = embed_catalog(few, weights, band=BAND, features=True, max_baseline=max_baseline, prefix="a_")
    assert out.index.equals(few.index) and "lc" in out.columns
    _assert_same_embeddings(out, reference.loc[few["id"]], prefix="a_")

    lazy = embed_catalog(dd.from_pandas(few, npartitions=3), weights, band=BAND)
    _assert_same_embeddings(lazy.compute(scheduler="sync"), reference.loc[few["id"]])

    features, _ = light_curve_features(flat[flat["id"].isin(few["id"])], bands=[BAND], max_baseline=max_baseline,
                                       n_jobs=1, progress=False)
    names = list(features.columns)
    got = out.set_index("id")[[f"a_{n}" for n in names]].to_numpy(np.float64)
    np.testing.assert_allclose(got, features.loc[out["id"], names].to_numpy(np.float64), rtol=1e-12, equal_nan=True)
    assert np.isfinite(got).mean() > 0.9


def test_hats_catalogue_as_job_partitions_loads_every_row_once(eros, catalog, weights, reference, tmp_path):
    from astromer.survey.catalog import LightCurveColumns
    from astromer.survey.hats import hats_partitions, is_hats_catalog
    from astromer.survey.task import SurveySettings, embed_partition

    flat, _ = eros
    path = tmp_path / "eros"
    catalog.to_hats(path, catalog_name="eros", progress_bar=False)
    assert is_hats_catalog(path) and not is_hats_catalog(tmp_path)

    partitions = hats_partitions(path, LightCurveColumns(column="lc"))
    assert len(partitions) == catalog.npartitions
    assert len({p.name for p in partitions}) == len(partitions)
    rows = pd.concat([p.load() for p in partitions], ignore_index=True)
    assert list(rows.columns) == ["id", "time", "mag", "err", "band"]
    key = ["id", "band", "time", "mag", "err"]
    np.testing.assert_array_equal(rows.sort_values(key)[key].to_numpy(), flat.sort_values(key)[key].to_numpy())

    # One pixel through the job's task equals the one-process Embedder.
    settings = SurveySettings(weights=weights, band=BAND, compat="auto")
    frame, report = embed_partition(partitions[0], settings)
    assert report["light_curves"] == partitions[0].load()["id"].nunique() == len(frame)
    expected = np.stack(reference.loc[frame["id"], "embedding"].to_numpy())
    np.testing.assert_allclose(np.stack(frame["embedding"].to_numpy()), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("column, message", [
    ("lightcurve", "has no column 'lightcurve'; its nested columns are ['lc']"),
    (dict(column="lc", mag="flux"), "Nested column 'lc' has no subcolumn(s) ['flux']; its subcolumns are "
                                    "['time', 'mag', 'err', 'band']: name them with mag="),
    ("ra", "Column 'ra' of the catalogue is not a nested column"),
])
def test_a_missing_light_curve_column_is_one_line_naming_what_is_there(catalog, column, message):
    from astromer.survey.catalog import LightCurveColumns, embed_catalog

    column = LightCurveColumns(**column) if isinstance(column, dict) else column
    # The columns are checked before the model is read: no weights file is needed.
    with pytest.raises(ConfigError) as error:
        embed_catalog(catalog, "no-such-weights", column=column, band=BAND)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_hats_catalogue_without_the_columns_is_one_line(catalog, tmp_path):
    from astromer.survey.catalog import LightCurveColumns
    from astromer.survey.hats import hats_partitions

    path = tmp_path / "eros"
    catalog.to_hats(path, catalog_name="eros", progress_bar=False)
    with pytest.raises(ConfigError, match=r"has no subcolumn\(s\) \['flux'\]; its subcolumns are \['time'"):
        hats_partitions(path, LightCurveColumns(mag="flux"))
    with pytest.raises(ConfigError, match=r"has no id column 'objectid'; its base columns are \['id', 'ra', 'dec'"):
        hats_partitions(path, LightCurveColumns(id="objectid"))
    with pytest.raises(ConfigError, match="is not a readable HATS catalogue"):
        hats_partitions(tmp_path)
