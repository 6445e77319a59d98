"""The settings of a few-shot run, as data, built once and checked before any data is read.

`FewshotSettings` says what to run (table, labels, methods, cells, how the
encoder reads the light curves) and holds one section per kind of training,
read from the preset data `presets/workflows/fewshot.yaml` and changed by
`--set section.key=value`: `heads`, `supervised`, `continued_pretraining`,
`features`.

    settings = fewshot_settings(["heads.seeds=3"], data="lcs.parquet", labels="labels.csv", spcs=(20,))
    fewshot.run_from_files(settings)
"""

import os
from dataclasses import dataclass

from astromer import presets
from astromer.compat import COMPAT_MODES
from astromer.errors import ConfigError

FINETUNE_MODES = ("self", "supervised")
VARIANTS = ("single", "band_mean", "band_concat", "joint", "joint_per_band")


@dataclass(frozen=True)
class HeadSettings:
    """The frozen-encoder Keras heads and features_emb_mlp (AdamW); the
    baselines without pretraining read epochs, batch_size and patience."""

    epochs: int
    batch_size: int
    patience: int
    learning_rate: float
    weight_decay: float
    dropout: float
    standardize: bool
    seeds: int


@dataclass(frozen=True)
class SupervisedSettings:
    """Method "supervised": a head warmed up on the frozen encoder, then
    encoder and head trained end to end (`astromer.fewshot.supervised`)."""

    head: str
    head_dropout: float
    batch_size: int
    warmup_epochs: int
    epochs: int
    patience: int
    head_learning_rate: float
    encoder_learning_rate: float
    weight_decay: float
    xla: bool


@dataclass(frozen=True)
class ContinuedPretrainingSettings:
    """`--finetune self`: masked reconstruction continued on a split's
    training light curves (`astromer.fewshot.continued_pretraining`)."""

    epochs: int
    learning_rate: float
    dropout: float | None
    batch_size: int | None


@dataclass(frozen=True)
class FeatureSettings:
    """The classifiers of the hand-crafted feature methods."""

    forest: dict
    stack_c: float
    stack_folds: int
    blend_c: float
    blend_weight: float


SECTIONS = {"heads": HeadSettings, "supervised": SupervisedSettings,
            "continued_pretraining": ContinuedPretrainingSettings, "features": FeatureSettings}


def method_settings(assignments=()):
    """`{section: settings}` of the preset data with `assignments`
    ("section.key=value") applied; a value of another type than the
    default's fails by name."""
    defaults = presets.workflow_settings("fewshot")
    config = presets.apply_overrides(defaults, assignments)
    expected = presets.flatten(defaults)
    for key, value in presets.flatten(config).items():
        default = expected[key]
        number = isinstance(default, float) and isinstance(value, int)
        if default is not None and value is not None and not (number or isinstance(value, type(default))):
            raise ConfigError(f"{key}={value!r}: expected {type(default).__name__}, as the default {default!r}.")
    return {name: cls(**config[name]) for name, cls in SECTIONS.items()}


@dataclass(frozen=True)
class FewshotSettings:
    """One few-shot run. `finetune` ("self", "supervised" or both) adds the
    method "supervised" when it names it; `band` means `variants=("single",),
    bands=(band,)`; `cache`: True keeps per-object features and frozen
    embeddings in `<out>/cache`, a folder keeps them there, False nowhere.
    The four method sections default to the preset data (`fewshot_settings`)."""

    data: str | None = None
    labels: str | None = None
    out: str = "runs/fewshot"
    weights: str | None = None
    preset: str | None = None
    band: str | None = None
    bands: tuple | None = None
    variants: tuple = ("single",)
    spcs: tuple = (20, 100, 500)
    folds: int = 3
    only_folds: tuple | None = None
    splits: str | None = None
    methods: tuple = ("a2", "max_pool", "linear", "logreg")
    finetune: tuple = ()
    attention_maps: int = 0
    periods: str | None = None
    tsne: bool = True
    compat: str = "auto"
    cache: bool | str = True
    time_offset: float = 0.0
    verbose: bool = True
    # Appended to the names of the rows of methods that read the encoder
    # (`run_from_files`: " (finetuned)" under continued pretraining).
    suffix: str = ""
    heads: HeadSettings = None
    supervised: SupervisedSettings = None
    continued_pretraining: ContinuedPretrainingSettings = None
    features: FeatureSettings = None

    def __post_init__(self):
        set_ = object.__setattr__  # normalised once, here: frozen afterwards
        if any(getattr(self, name) is None for name in SECTIONS):
            defaults = method_settings()
            for name in SECTIONS:
                set_(self, name, getattr(self, name) or defaults[name])
        finetune = self.finetune
        set_(self, "finetune", ("self",) if finetune is True else (finetune,) if isinstance(finetune, str)
             else tuple(finetune or ()))
        for name in ("spcs", "methods", "variants", "bands", "only_folds"):
            value = getattr(self, name)
            set_(self, name, None if value is None else tuple([value] if isinstance(value, str) else value))
        if self.band is not None:
            set_(self, "variants", ("single",))
            set_(self, "bands", (self.band,))
        if "supervised" in self.finetune and "supervised" not in self.methods:
            set_(self, "methods", (*self.methods, "supervised"))
        set_(self, "out", str(self.out))
        self.check()

    def check(self):
        """Raises `ConfigError` naming the first bad option."""
        from astromer.fewshot.methods import METHODS

        if self.only_folds is not None and not set(self.only_folds) <= set(range(self.folds)):
            raise ConfigError(f"only_folds={sorted(self.only_folds)}: folds are numbered 0 to {self.folds - 1} "
                              f"(--folds {self.folds}).")
        if int(self.heads.seeds) < 1:
            raise ConfigError(f"Head seeds must be at least 1, got {self.heads.seeds} (--head-seeds).")
        for name, given, known in (("method", self.methods, METHODS), ("variant", self.variants, VARIANTS),
                                   ("finetuning mode", self.finetune, FINETUNE_MODES)):
            unknown = sorted(set(given) - set(known))
            if unknown:
                raise ConfigError(f"Unknown {name}(s) {unknown}; use {list(known)}.")
        if self.compat not in COMPAT_MODES:
            raise ConfigError(f"Unknown compat {self.compat!r}; use one of {list(COMPAT_MODES)}.")

    @property
    def cache_dir(self):
        if self.cache is True:
            return os.path.join(self.out, "cache")
        return self.cache or None

    @property
    def continues_pretraining(self):
        return "self" in self.finetune


def fewshot_settings(assignments=(), **options):
    """`FewshotSettings(**options)` with the method sections of the preset
    data changed by `assignments` ("section.key=value", as `--set`)."""
    return FewshotSettings(**options, **method_settings(assignments))
