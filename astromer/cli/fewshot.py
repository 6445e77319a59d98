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
confusion matrices, macro-F1 vs samples per class, gamma weights, t-SNE
per block, and --attention-maps (first block, folded by --periods).
"""

import argparse
import os
import sys


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
                        help="a2 max_pool linear logreg raw_gru emb_gru emb_mlp")
    parser.add_argument("--finetune", action="store_true", help="finetune the encoder on each fold's training objects")
    parser.add_argument("--finetune-epochs", type=int, default=10)
    parser.add_argument("--finetune-lr", type=float, default=1e-4, help="learning rate of --finetune")
    parser.add_argument("--finetune-dropout", type=float, default=0.0,
                        help="encoder dropout during --finetune (-1 keeps the model's)")
    parser.add_argument("--epochs", type=int, default=300, help="classifier epochs (early stopping on val)")
    parser.add_argument("--head-seeds", type=int, default=1,
                        help="heads trained per split with different seeds, probabilities averaged (lower variance)")
    parser.add_argument("--attention-maps", type=int, default=0, metavar="N", help="attention maps of N test objects per class")
    parser.add_argument("--periods", help="CSV id,period to fold the attention maps")
    parser.add_argument("--out", default="runs/fewshot")
    args = parser.parse_args(argv)

    from astromer import fewshot, training
    from astromer.data.cleaning import CleaningConfig, CleaningReport, clean_light_curves
    from astromer.data.lightcurves import iter_light_curves, read_labels

    try:
        fewshot.check_options(args.folds, args.only_fold, args.head_seeds)
    except ValueError as error:
        print(f"astromer-fewshot: error: {error}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.methods) - set(fewshot.METHODS))
    if unknown:
        print(f"astromer-fewshot: error: unknown method(s) {unknown}; use {list(fewshot.METHODS)}", file=sys.stderr)
        return 2
    try:
        labels = read_labels(args.labels)
        if args.weights:
            model, config = training.load_for_finetuning(args.weights, args.preset)
        else:
            config = training.resolve_config(args.preset or "a2")
            model = training.build_pretrainer(config)
        report = CleaningReport()
        light_curves = list(clean_light_curves(iter_light_curves(args.data), CleaningConfig(min_observations=1), report))
    except (ValueError, FileNotFoundError) as error:
        print(f"astromer-fewshot: error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    frame = fewshot.run(
        light_curves, labels, model, config, args.out, methods=args.methods, spcs=args.spc, folds=args.folds,
        splits_dir=args.splits, band=args.band, finetune=args.finetune, finetune_epochs=args.finetune_epochs,
        head_settings={"epochs": args.epochs, "seeds": args.head_seeds}, label_suffix=" (finetuned)" if args.finetune else "",
        variant=args.variant, bands=args.bands, finetune_learning_rate=args.finetune_lr,
        finetune_dropout=None if args.finetune_dropout < 0 else args.finetune_dropout, only_folds=args.only_fold,
    )
    print(open(os.path.join(args.out, "summary.md")).read())
    if args.attention_maps:
        from astromer import plots

        periods = {}
        if args.periods:
            import pandas as pd

            p = pd.read_csv(args.periods, dtype={"id": str})
            periods = dict(zip(p["id"], p[[c for c in p.columns if c != "id"][0]]))
        by_class = {}
        for lc in light_curves:
            label = labels.get(lc.id)
            if label is not None and len(by_class.setdefault(str(label), [])) < args.attention_maps:
                if args.band is not None and lc.band is not None:
                    keep = lc.band.astype(str) == args.band
                    lc = type(lc)(lc.id, lc.time[keep], lc.mag[keep], lc.err[keep])
                by_class[str(label)].append(lc)
        for label, lcs in by_class.items():
            for lc in lcs:
                plots.attention_maps(model.backbone, lc, os.path.join(args.out, f"attention_{label}_{lc.id}.png"),
                                     period=periods.get(lc.id), title=f"{label} {lc.id}")
    print(f"outputs in {args.out}")
    return 0 if len(frame) else 1


if __name__ == "__main__":
    sys.exit(main())
