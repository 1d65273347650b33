#!/usr/bin/env bash
# Build the bundled default model, runtime/nameort/models/german-italian/{model.onnx,model.onnx.json},
# with exactly these commands. Needs the training environment: torch, then '.[train,cpu]'.
# Deterministic on CPU: the same data and seed give the same weights and the same figures.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${NAMEORT_DATA:-../shared/data/names}"
RUN="${RUN_DIR:-runs/default}"
OUT=runtime/nameort/models/german-italian

(cd "$DATA" && sha256sum --quiet -c ../names.sha256)   # the files the figures refer to
nameort train --data "$DATA" --labels German,Italian --preset small --seed 0 --device cpu --out "$RUN"
nameort export "$RUN" --out "$OUT"
nameort evaluate "$OUT" --data "$DATA"                 # must print the accuracy recorded at training
