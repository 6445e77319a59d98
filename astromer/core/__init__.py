"""The shared tier below the workflows: what training, embedding, few-shot,
export and bench all use. It imports models, data, preprocessing, layers and
the top-level modules, never a workflow.

    loading   a backbone or a task from any saved form (`astromer.load_model`)
    embedder  the `Embedder`: per-object embeddings through the inference preprocessor
    features  the 44 hand-crafted light-curve features per band (`light-curve` package)
    standardize  per-dimension embedding statistics for search
"""
