"""The registry of few-shot methods: names, order and families."""

import pytest

from astromer import fewshot


def test_methods_are_the_heads_then_the_baselines_in_order():
    # The command line's default and its error message list them in this order.
    assert fewshot.METHODS == fewshot.FEATURE_HEADS + fewshot.BASELINES + fewshot.FEATURE_METHODS + fewshot.SUPERVISED
    # Feature-only methods need no encoder; features + embeddings read it.
    assert not fewshot.family_of("features_rf").needs_model
    assert fewshot.family_of("features_emb_hgb").reads_encoder
    assert all(fewshot.family_of(m).reads_encoder for m in fewshot.FEATURE_HEADS)
    assert not any(fewshot.family_of(m).reads_encoder for m in fewshot.BASELINES)


def test_unknown_method_fails_by_name():
    with pytest.raises(ValueError, match=r"Unknown method 'svm'; use one of \['a2'"):
        fewshot.family_of("svm")
