"""Per-object vectors kept on disk between few-shot runs (features, embeddings).

A cache file holds one vector per object id with a hash of the light curve
it was computed from; its name is a hash of everything else that made the
vectors (encoder weights, preprocessing, feature settings: the `key`). A
vector is reused only when both match, so a cache of another table, model
or preprocessing is never read for this one.

    cache = ObjectCache("runs/fewshot/cache", "embeddings", {"weights": weights_hash(backbone), ...})
    found, missing, hashes = cache.lookup({oid: lc, ...})
    cache.store({oid: vector, ...}, hashes)
"""

import hashlib
import json
import logging
import os

import numpy as np


def light_curve_hash(lc):
    """A digest of a light curve's times, magnitudes, errors and bands."""
    digest = hashlib.blake2b(digest_size=16)
    for values in (lc.time, lc.mag, lc.err):
        digest.update(np.ascontiguousarray(values, np.float64).tobytes())
    if lc.band is not None:
        digest.update("\0".join(np.asarray(lc.band).astype(str)).encode())
    return digest.hexdigest()


def weights_hash(model):
    """A digest of a model's weights (names, shapes and values)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.asarray(weight.numpy() if hasattr(weight, "numpy") else weight)
        digest.update(f"{weight.path if hasattr(weight, 'path') else weight.name}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


class ObjectCache:
    """Vectors of objects, `{id: (light-curve hash, vector)}`, in
    `<folder>/<kind>-<hash of key>.npz` (the key beside it in `.json`, for
    people). `folder=None` keeps nothing on disk."""

    def __init__(self, folder, kind, key):
        text = json.dumps(key, sort_keys=True, default=str)
        self.path = None if folder is None else os.path.join(
            folder, f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz")
        self.key = key
        self.entries = self._read()
        self.changed = False

    def _read(self):
        if not (self.path and os.path.exists(self.path)):
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return {str(i): (str(h), v) for i, h, v in zip(data["ids"], data["hashes"], data["vectors"])}
        except (OSError, ValueError, KeyError) as error:
            # A damaged cache costs a recomputation, never the run.
            logging.getLogger("astromer.fewshot").warning("Ignoring the cache %s (%s).", self.path, error)
            return {}

    def get(self, oid, content):
        """The vector of `oid` when it was computed from a light curve with
        hash `content`, else None."""
        entry = self.entries.get(oid)
        return entry[1] if entry is not None and entry[0] == content else None

    def lookup(self, light_curves):
        """`(found, missing, hashes)` of `{id: LightCurve}`: the vectors kept
        for these light curves, the ids to compute, and the light curves'
        hashes (none when nothing is kept on disk)."""
        hashes = {i: light_curve_hash(lc) for i, lc in light_curves.items()} if self.path else {}
        found = {i: self.get(i, h) for i, h in hashes.items()}
        found = {i: v for i, v in found.items() if v is not None}
        return found, [i for i in light_curves if i not in found], hashes

    def store(self, vectors, hashes):
        """Keeps `{id: vector}` computed from light curves with `hashes` and
        writes the file."""
        if hashes:
            self.put({i: (hashes[i], v) for i, v in vectors.items()})
            self.save()

    def put(self, items):
        """Adds `{id: (content hash, vector)}`."""
        self.entries.update(items)
        self.changed = self.changed or bool(items)

    def save(self):
        """Writes the file when something was added (atomic: a run stopped
        while writing leaves the previous file). Two runs writing at the
        same moment can lose each other's newest objects: a recomputation
        later, never a wrong vector."""
        if not (self.path and self.changed and self.entries):
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        # Objects another run (say another --only-fold on the same --out)
        # wrote since this one read the file are kept.
        self.entries = {**self._read(), **self.entries}
        ids = list(self.entries)
        tmp = f"{self.path}.{os.getpid()}.tmp.npz"
        np.savez(tmp, ids=np.array(ids, dtype=str), hashes=np.array([self.entries[i][0] for i in ids], dtype=str),
                 vectors=np.stack([self.entries[i][1] for i in ids]))
        os.replace(tmp, self.path)
        with open(self.path[:-len(".npz")] + ".json", "w") as f:
            json.dump(self.key, f, indent=2, sort_keys=True, default=str)
        self.changed = False
