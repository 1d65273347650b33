#!/usr/bin/env bash
# Retake web/screenshot.png (the README's picture of the page) from a fresh build.
#
#   web/tools/screenshot.sh [MODEL] [TYPED_NAME]     (defaults: the default bundled model, Tribbiani)
#
# Builds the site into a temporary folder, serves it on 127.0.0.1, opens it in
# headless Chromium with a list of names (the ones the README talks about, and
# names of other origins an open-set model answers `other`), types a name, and
# writes the screenshot. Needs what tests/test_web.py needs (npm ci --prefix web, chromium).
set -euo pipefail

cd "$(dirname "$0")/../.."
model="${1:-}"
typed="${2:-Tribbiani}"
site="$(mktemp -d)/site"
python -m nameort web build "$site" ${model:+--model "$model"} >/dev/null

port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python -m http.server --bind 127.0.0.1 --directory "$site" "$port" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; rm -rf "$(dirname "$site")"' EXIT
for _ in $(seq 50); do
  python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null && break
  sleep 0.1
done

# Schmidt, Esposito, D'Angelo, Schröder, O’Brien, Bianchi-Rossi, Nguyen, García, Иванов (URL-encoded).
names="Schmidt,Esposito,D'Angelo,Schr%C3%B6der,O%E2%80%99Brien,Bianchi-Rossi,Nguyen,Garc%C3%ADa,%D0%98%D0%B2%D0%B0%D0%BD%D0%BE%D0%B2"
node web/tools/run-page.mjs "http://127.0.0.1:$port/?names=$names" --type-name "$typed" \
  --width 760 --height 900 --screenshot web/screenshot.png >/dev/null
echo "wrote web/screenshot.png"
