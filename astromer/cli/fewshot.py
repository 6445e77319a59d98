"""`astromer-fewshot`: the papers' few-shot classification benchmark.

    astromer-fewshot --data ../shared/data/eros1_lmc/lightcurves.parquet \\
        --labels ../shared/data/eros1_lmc/labels.csv --band EROS_R \\
        --weights path/to/astromer1-macho --splits ../shared/data/eros1_lmc/splits --out runs/fewshot-a1

For each fold and samples-per-class, heads are trained on the encoder's
pooled features of the training objects (early stopping on the validation
objects) and scored by macro-F1 on the fold's test objects. --splits reads
fixed split files fold{f}_spc{s}.csv (id,split); without it, splits are
drawn with the same protocol and written to <out>/splits. How each method
trains is preset data (presets/workflows/fewshot.yaml), changed with
--set section.key=value. Outputs and methods: docs/fewshot.md.
"""

import sys

from astromer.cli.errors import console_script
from astromer.cli.startup import add_verbose_option, check_inputs, new_parser, start_frameworks
from astromer.compat import COMPAT_MODES


def parser():
    p = new_parser("astromer-fewshot", __doc__)
    p.add_argument("--data", required=True, help="Parquet/CSV table: id, time, mag, err[, band]")
    p.add_argument("--labels", required=True, help="CSV with id,label")
    p.add_argument("--weights", help="pretrained encoder (run folder, .keras, original checkpoint)")
    p.add_argument("--preset", help="preset (random encoder unless --weights; or the preset of --weights)")
    p.add_argument("--band", help="use only this band (single-band encoders)")
    p.add_argument("--bands", nargs="+", help="bands for --variant band_mean / band_concat")
    p.add_argument("--variant", nargs="+", default=["single"],
                   choices=("single", "band_mean", "band_concat", "joint", "joint_per_band"),
                   help="how bands become features: one band, per-band mean or concatenation of a single-band "
                        "encoder, or a joint multi-band encoder (pooled over all steps, or per band and "
                        "concatenated); several variants share each fold's finetuned encoder")
    p.add_argument("--spc", type=int, nargs="+", default=[20, 100, 500], help="samples per class")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--only-fold", type=int, nargs="+", help="run only these folds (e.g. to split a long run)")
    p.add_argument("--splits", help="folder with fixed fold{f}_spc{s}.csv split files")
    p.add_argument("--methods", nargs="+", default=["a2", "max_pool", "linear", "logreg"],
                   help="frozen-encoder heads: a2 max_pool linear logreg; baselines: raw_gru emb_gru emb_mlp; "
                        "hand-crafted features: features_rf features_hgb features_logreg; features + embeddings: "
                        "features_emb_rf features_emb_hgb features_emb_mlp features_emb_stack features_emb_blend; "
                        "supervised (encoder + head end to end)")
    p.add_argument("--finetune", nargs="*", choices=("self", "supervised"),
                   help="train the encoder on each fold's training objects: 'self' (the default when given bare: "
                        "masked reconstruction continued, then frozen heads), 'supervised' (adds the method "
                        "'supervised': encoder and head trained end to end with cross-entropy), or both "
                        "(supervised starts from the self-supervised encoder)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="a method setting (sections heads, supervised, continued_pretraining, features of "
                        "presets/workflows/fewshot.yaml), e.g. --set supervised.epochs=50")
    p.add_argument("--supervised-setting", nargs="+", default=[], metavar="KEY=VALUE",
                   help="--set supervised.KEY=VALUE, e.g. epochs=50 encoder_learning_rate=1e-5")
    p.add_argument("--finetune-epochs", type=int, help="--set continued_pretraining.epochs (10)")
    p.add_argument("--finetune-lr", type=float, help="--set continued_pretraining.learning_rate (1e-4)")
    p.add_argument("--finetune-dropout", type=float,
                   help="encoder dropout of --finetune self (0; -1 keeps the model's)")
    p.add_argument("--finetune-batch", type=int,
                   help="batch of --finetune self (default: the preset's, at most 64; never more than the "
                        "training light curves)")
    p.add_argument("--epochs", type=int, help="--set heads.epochs: classifier epochs (300; early stopping on val)")
    p.add_argument("--head-seeds", type=int,
                   help="--set heads.seeds: heads trained per split with different seeds, probabilities "
                        "averaged (lower variance; 1)")
    p.add_argument("--attention-maps", type=int, default=0, metavar="N", help="attention maps of N test objects per class")
    p.add_argument("--periods", help="CSV id,period to fold the attention maps")
    p.add_argument("--no-tsne", dest="tsne", action="store_false",
                   help="skip the t-SNE figure of the encoder's layers (drawn on at most 500 test objects)")
    p.add_argument("--compat", default="auto", choices=COMPAT_MODES,
                   help="how the encoder reads the light curves, as astromer-embed --compat: original (the "
                        "original library's windows, float32 centring, errors outside (0, 1) kept), default "
                        "(the papers': non-overlapping windows, float64 centring, errors in (0, 1)), auto "
                        "(default): original for weights converted from an original checkpoint. The "
                        "hand-crafted features and trained methods read the light curves with errors in (0, 1)")
    p.add_argument("--time-offset", type=float, default=0.0, metavar="DAYS",
                   help="days subtracted from every time as it is read (e.g. to bring times to MJD; Julian "
                        "Dates are moved to MJD by themselves under compat original)")
    p.add_argument("--no-cache", dest="cache", action="store_false",
                   help="do not read or write <out>/cache (features and frozen-encoder embeddings per "
                        "object, reused by later runs with the same --out)")
    p.add_argument("--out", default="runs/fewshot")
    add_verbose_option(p)
    return p


def settings_of(args):
    """The run's `FewshotSettings`: the preset data, the shorthand options,
    then --set (checked here, before any data is read)."""
    from astromer.errors import ConfigError
    from astromer.fewshot.settings import fewshot_settings

    bad = [item for item in args.supervised_setting if "=" not in item.strip("=")]
    if bad:
        raise ConfigError(f"--supervised-setting takes KEY=VALUE, got {bad[0]!r}")
    dropout = args.finetune_dropout
    shorthands = {"heads.epochs": args.epochs, "heads.seeds": args.head_seeds,
                  "continued_pretraining.epochs": args.finetune_epochs,
                  "continued_pretraining.learning_rate": args.finetune_lr,
                  "continued_pretraining.dropout": None if dropout is None else "null" if dropout < 0 else dropout,
                  "continued_pretraining.batch_size": args.finetune_batch}
    assignments = ([f"{key}={value}" for key, value in shorthands.items() if value is not None]
                   + [f"supervised.{item}" for item in args.supervised_setting] + args.overrides)
    # A bare --finetune means "self".
    finetune = () if args.finetune is None else (args.finetune or ("self",))
    return fewshot_settings(
        assignments, data=args.data, labels=args.labels, out=args.out, weights=args.weights, preset=args.preset,
        band=args.band, bands=args.bands, variants=args.variant, spcs=args.spc, folds=args.folds,
        only_folds=args.only_fold, splits=args.splits, methods=args.methods, finetune=finetune,
        attention_maps=args.attention_maps, periods=args.periods, tsne=args.tsne, compat=args.compat,
        cache=args.cache, time_offset=args.time_offset)


@console_script("astromer-fewshot")
def main(argv=None):
    args = parser().parse_args(argv)
    settings = settings_of(args)  # a bad option is answered before the frameworks start
    check_inputs(args)
    start_frameworks(args.verbose)

    import logging

    from astromer import fewshot
    from astromer.training.continued import continue_training

    # The run prints what the encoder's cleaning did itself, on stdout (the
    # Embedder would log it again for every pass).
    logging.getLogger("astromer.embedding").setLevel(logging.ERROR)
    frame = fewshot.run_from_files(settings, trainer=continue_training)
    return 0 if len(frame) else 1


if __name__ == "__main__":
    sys.exit(main())
