"""`astromer-fewshot`: the papers' few-shot classification benchmark.

    astromer-fewshot --data ../shared/data/eros1_lmc/lightcurves.parquet \\
        --labels ../shared/data/eros1_lmc/labels.csv --band EROS_R \\
        --weights path/to/astromer1-macho --splits ../shared/data/eros1_lmc/splits --out runs/fewshot-a1

For each fold and samples-per-class, heads are trained on the encoder's
pooled features of the training objects (early stopping on the validation
objects) and scored by macro-F1 on the fold's test objects. --splits reads
fixed split files fold{f}_spc{s}.csv (id,split); without it, splits are
drawn with the same protocol and written to <out>/splits. --finetune first
trains the encoder on each fold's training light curves (masked
reconstruction). Outputs in --out: results.csv, summary.csv, summary.md,
confusion matrices, macro-F1 vs samples per class (bars with one --spc),
gamma weights, t-SNE per block, and --attention-maps (first block, folded
by --periods).

Only the objects of the folds and samples per class run (--only-fold,
--spc) are featurised and embedded, each once; both are kept per object in
<out>/cache for later runs (--no-cache: neither read nor written). The
encoder reads the light curves through the Embedder with --compat, as
astromer-embed does for the same weights.
"""

import argparse
import sys

from astromer.cli.errors import console_script
from astromer.cli.startup import add_verbose_option, check_inputs, start_frameworks


@console_script("astromer-fewshot")
def main(argv=None):
    parser = argparse.ArgumentParser(prog="astromer-fewshot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="Parquet/CSV table: id, time, mag, err[, band]")
    parser.add_argument("--labels", required=True, help="CSV with id,label")
    parser.add_argument("--weights", help="pretrained encoder (run folder, .keras, original checkpoint)")
    parser.add_argument("--preset", help="preset (random encoder unless --weights; or the preset of --weights)")
    parser.add_argument("--band", help="use only this band (single-band encoders)")
    parser.add_argument("--bands", nargs="+", help="bands for --variant band_mean / band_concat")
    parser.add_argument("--variant", nargs="+", default=["single"],
                        choices=("single", "band_mean", "band_concat", "joint", "joint_per_band"),
                        help="how bands become features: one band, per-band mean or concatenation of a "
                             "single-band encoder, or a joint multi-band encoder (pooled over all steps, or "
                             "per band and concatenated); several variants share each fold's finetuned encoder")
    parser.add_argument("--spc", type=int, nargs="+", default=[20, 100, 500], help="samples per class")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--only-fold", type=int, nargs="+", help="run only these folds (e.g. to split a long run)")
    parser.add_argument("--splits", help="folder with fixed fold{f}_spc{s}.csv split files")
    parser.add_argument("--methods", nargs="+", default=["a2", "max_pool", "linear", "logreg"],
                        help="frozen-encoder heads: a2 max_pool linear logreg; baselines: raw_gru emb_gru emb_mlp; "
                             "hand-crafted features: features_rf features_hgb features_logreg; features + embeddings: "
                             "features_emb_rf features_emb_hgb features_emb_mlp features_emb_stack features_emb_blend; "
                             "supervised (encoder + head end to end)")
    parser.add_argument("--finetune", nargs="*", choices=("self", "supervised"),
                        help="finetune the encoder on each fold's training objects: 'self' (the default when given "
                             "bare: masked reconstruction, then frozen heads), 'supervised' (adds the method "
                             "'supervised': encoder and head trained end to end with cross-entropy), or both "
                             "(supervised starts from the self-supervised encoder)")
    parser.add_argument("--supervised-setting", nargs="+", default=[], metavar="KEY=VALUE",
                        help="settings of supervised finetuning, e.g. epochs=50 encoder_learning_rate=1e-5 "
                             "(keys: astromer.fewshot.supervised.SUPERVISED_SETTINGS)")
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--finetune-lr", type=float, default=1e-4, help="learning rate of --finetune")
    parser.add_argument("--finetune-dropout", type=float, default=0.0,
                        help="encoder dropout during --finetune (-1 keeps the model's)")
    parser.add_argument("--finetune-batch", type=int, default=None,
                        help="batch of --finetune (default: the preset's, at most 64; never more than the "
                             "training light curves)")
    parser.add_argument("--epochs", type=int, default=300, help="classifier epochs (early stopping on val)")
    parser.add_argument("--head-seeds", type=int, default=1,
                        help="heads trained per split with different seeds, probabilities averaged (lower variance)")
    parser.add_argument("--attention-maps", type=int, default=0, metavar="N", help="attention maps of N test objects per class")
    parser.add_argument("--periods", help="CSV id,period to fold the attention maps")
    parser.add_argument("--no-tsne", dest="tsne", action="store_false",
                        help="skip the t-SNE figure of the encoder's layers (drawn on at most 500 test objects)")
    parser.add_argument("--compat", default="auto", choices=("auto", "default", "original"),
                        help="how the encoder reads the light curves, as astromer-embed --compat: original (the "
                             "original library's windows, float32 centring, errors outside (0, 1) kept), default "
                             "(the papers': non-overlapping windows, float64 centring, errors in (0, 1)), auto "
                             "(default): original for weights converted from an original checkpoint. The "
                             "hand-crafted features and trained methods read the light curves with errors in (0, 1)")
    parser.add_argument("--time-offset", type=float, default=0.0, metavar="DAYS",
                        help="days subtracted from every time as it is read (e.g. to bring times to MJD; Julian "
                             "Dates are moved to MJD by themselves under compat original)")
    parser.add_argument("--no-cache", dest="cache", action="store_false",
                        help="do not read or write <out>/cache (features and frozen-encoder embeddings per "
                             "object, reused by later runs with the same --out)")
    parser.add_argument("--out", default="runs/fewshot")
    add_verbose_option(parser)
    args = parser.parse_args(argv)
    check_inputs(args)  # a wrong path is answered before the frameworks start
    start_frameworks(args.verbose)

    import logging

    from astromer import fewshot

    # The run prints what the encoder's cleaning did itself, on stdout (the
    # Embedder would log it again for every pass).
    logging.getLogger("astromer.embedding").setLevel(logging.ERROR)
    supervised = dict(_setting(item) for item in args.supervised_setting)
    frame = fewshot.run_from_files(
        args.data, args.labels, out=args.out, weights=args.weights, preset=args.preset, band=args.band,
        bands=args.bands, variant=args.variant, spcs=args.spc, folds=args.folds, only_folds=args.only_fold,
        splits_dir=args.splits, methods=args.methods, finetune=args.finetune,
        finetune_epochs=args.finetune_epochs, finetune_learning_rate=args.finetune_lr,
        finetune_dropout=None if args.finetune_dropout < 0 else args.finetune_dropout,
        finetune_batch_size=args.finetune_batch, epochs=args.epochs,
        head_seeds=args.head_seeds, attention_maps=args.attention_maps, periods=args.periods,
        supervised=supervised, tsne=args.tsne, compat=args.compat, cache=args.cache,
        time_offset=args.time_offset,
    )
    return 0 if len(frame) else 1


def _setting(item):
    """"key=value" -> (key, bool, number or string)."""
    from astromer.fewshot import UsageError

    key, sep, value = item.partition("=")
    if not sep or not key:
        raise UsageError(f"--supervised-setting takes KEY=VALUE, got {item!r}")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


if __name__ == "__main__":
    sys.exit(main())
