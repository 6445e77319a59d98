"""`astromer-finetune`: continue masked-reconstruction training on a target survey.

    astromer-finetune --weights runs/a2 --data records/eros_r
    astromer-finetune --weights path/to/astromer1-macho --data table.parquet \\
        --set pretraining.learning_rate=1e-4 --set pretraining.epochs=20

--weights: a run folder of astromer-train, a .keras model, an original
checkpoint (folder with conf.json/config.json, or a legacy .h5), or a
.weights.h5 file with --preset. Before and after training, the reconstruction
RMSE and R2 on the target test split are computed on all observations
without masking (Astromer 2 paper, Sect. 5.2); they, and the time taken, go
to finetune.json in the run folder.
"""

import argparse
import json
import os
import sys
import time
from datetime import datetime


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="astromer-finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="pretrained model (see above)")
    parser.add_argument("--data", required=True, help="TFRecord folder (train/ val/ test/) or Parquet/CSV table")
    parser.add_argument("--preset", help="preset of --weights when it cannot be read from them")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", help="run folder (default runs/finetune-<time>)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--strategy", default="auto", choices=("auto", "none", "mirrored", "multiworker", "data-parallel"))
    parser.add_argument("--deterministic", action="store_true",
                        help="TensorFlow op determinism: bitwise-identical reruns, but no XLA (slower)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    from astromer import training

    out = args.out or os.path.join("runs", f"finetune-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    try:
        model, config = training.load_for_finetuning(args.weights, args.preset, args.overrides)
        data = training.prepare_data(args.data, config, out)
    except (ValueError, FileNotFoundError) as error:
        print(f"astromer-finetune: error: {error}", file=sys.stderr)
        return 2
    if data.test is None:
        print("astromer-finetune: note: the data has no test split; reporting on the validation split")
    target = data.test if data.test is not None else data.val
    batch = int(config["pretraining"]["batch_size"])
    before = training.evaluate_reconstruction(model, target, config, batch)
    print(f"before finetuning: test RMSE {before['rmse']:.4f}, R2 {before['r2']:.4f} (all observations, no masking)")
    start = time.time()
    summary = training.pretrain(config, data, out, resume=args.resume, strategy_kind=args.strategy,
                                verbose=0 if args.quiet else 1, initial_model=model,
                                deterministic=args.deterministic)
    seconds = time.time() - start
    import keras

    model = keras.saving.load_model(os.path.join(out, "model.keras"))
    after = training.evaluate_reconstruction(model, target, config, batch)
    report = {"weights": args.weights, "data": args.data, "before": before, "after": after,
              "finetuning_seconds": round(seconds, 1), "epochs_run": summary["epochs_run"]}
    with open(os.path.join(out, "finetune.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"after finetuning:  test RMSE {after['rmse']:.4f}, R2 {after['r2']:.4f}; "
          f"{seconds:.0f} s; outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
