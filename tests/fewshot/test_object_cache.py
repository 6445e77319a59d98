"""The per-object cache of a few-shot run's features and embeddings."""

import numpy as np

from astromer.data.lightcurves import LightCurve
from astromer.fewshot.object_cache import ObjectCache, light_curve_hash


def _lc(shift=0.0):
    time = np.array([1.0, 2.0, 4.0])
    return LightCurve("a", time, np.array([15.0, 15.2, 14.9]) + shift, np.full(3, 0.05))


def test_a_vector_is_reused_only_for_the_same_key_and_light_curve(tmp_path):
    key = {"weights": "abc", "compat": "original"}
    cache = ObjectCache(str(tmp_path), "embeddings-mean", key)
    cache.put({"a": (light_curve_hash(_lc()), np.arange(4.0))})
    cache.save()
    again = ObjectCache(str(tmp_path), "embeddings-mean", key)
    np.testing.assert_array_equal(again.get("a", light_curve_hash(_lc())), np.arange(4.0))
    # the same id with one magnitude changed, another preprocessing, another id
    assert again.get("a", light_curve_hash(_lc(shift=1e-9))) is None
    assert ObjectCache(str(tmp_path), "embeddings-mean", {**key, "compat": "default"}).get(
        "a", light_curve_hash(_lc())) is None
    assert again.get("b", light_curve_hash(_lc())) is None


def test_runs_sharing_a_cache_keep_each_others_objects_and_a_damaged_file_is_ignored(tmp_path):
    first, second = (ObjectCache(str(tmp_path), "features", {"k": 1}) for _ in range(2))
    first.put({"a": ("h", np.zeros(2))})
    second.put({"b": ("h", np.ones(2))})
    first.save(), second.save()
    assert sorted(ObjectCache(str(tmp_path), "features", {"k": 1}).entries) == ["a", "b"]
    with open(first.path, "wb") as f:
        f.write(b"not an npz file")
    assert ObjectCache(str(tmp_path), "features", {"k": 1}).entries == {}
    assert ObjectCache(None, "features", {"k": 1}).path is None
