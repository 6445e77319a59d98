"""One switch for reading light curves as the original code did, shared by
`astromer-embed`, `astromer-fewshot` and `astromer-finetune` (one
preprocessing per model).

The published Astromer 1 weights reproduce the original python-library's
(ASTROMER 0.1.8) embeddings only with its preprocessing: windows of
`floor(L / 200) + 1` with the last one right-aligned (`window_mode=
"original"`), window means taken in float32 (`float32_first`), and no row
dropped for its error (the original keeps errors outside (0, 1)).
`compat="original"` sets the three; `"default"` follows the papers
(non-overlapping windows, float64 centring, errors in (0, 1)). `"auto"`
picks "original" for weights that carry the original code's quirks (an
original checkpoint, or a model converted from one) and "default" otherwise.
"""

COMPAT_MODES = ("auto", "default", "original")


def original_settings():
    """The `Embedder` settings of the original library's `encode`."""
    return {"window_mode": "original", "float32_first": True,
            "cleaning": {"min_error": float("-inf"), "max_error": float("inf"), "min_observations": 1}}


def resolve_compat(compat, backbone):
    """"auto" -> "original" for a backbone with an original code's attention
    quirk (`convert.original_code`), else "default"; others checked."""
    from astromer.convert import original_code

    if compat not in COMPAT_MODES:
        raise ValueError(f"Unknown compat {compat!r}; use one of {COMPAT_MODES}.")
    if compat == "auto":
        return "original" if original_code(backbone) is not None else "default"
    return compat
