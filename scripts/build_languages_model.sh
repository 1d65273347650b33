#!/usr/bin/env bash
# Build the bundled 18-language model, runtime/nameort/models/languages/{model.onnx,model.onnx.json},
# with exactly these commands, and (with --cv) the cross-validated report of its recipe.
# Needs the training environment: torch, then '.[train,cpu]'. Deterministic on CPU.
#
# The recipe is the `languages` preset (train/nameort_train/config.py; why each part, in docs/languages.md):
# all 18 files, each spelling once per label, Scottish read as English, three 1x64 GRUs with a
# one-cycle learning rate over 30 epochs merged into one network, logits adjusted by the label shares (tau 1).
# The model is trained on the 80% train split (seed 0): the 10% test split stays unseen, so
# `nameort evaluate` and tests/test_languages_model.py score it on names it never trained on.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${NAMEORT_DATA:-../shared/data/names}"
RUN="${RUN_DIR:-runs/languages}"
OUT=runtime/nameort/models/languages

(cd "$DATA" && sha256sum --quiet -c ../names.sha256)   # the files the figures refer to
nameort train --data "$DATA" --preset languages --seed 0 --device cpu --threads 1 --out "$RUN" --force --quiet
nameort export "$RUN" --out "$OUT"
nameort evaluate "$OUT" --data "$DATA"                 # must print the accuracy recorded at training

if [[ "${1:-}" == "--cv" ]]; then
    # The report: 5-fold cross-validation of the same recipe (a fresh ensemble per fold) with two
    # fold assignments (--cv-seed 0 and 1), figures as mean ± std over the 10 folds;
    # confusion.png and reliability.png out of fold. 30 network trainings: about an hour on an idle core.
    REPORT="${REPORT_DIR:-runs/languages-cv}"
    mkdir -p "$REPORT"
    for SEED in 0 1; do
        nameort crossval --data "$DATA" --preset languages --folds 5 --repeats 1 --cv-seed "$SEED" --device cpu \
            --plot "$REPORT/seed$SEED" --json > "$REPORT/crossval-seed$SEED.json"
    done
    python scripts/languages_report.py "$REPORT"/crossval-seed0.json "$REPORT"/crossval-seed1.json > "$REPORT/report.md"
    cat "$REPORT/report.md"
fi
