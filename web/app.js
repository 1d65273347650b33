// The page: load a model folder, classify what is typed or pasted, and answer
// ?names=a,b,c for automation (JSON in #results, then <body data-done="1">).
//
// `nameort web build` puts onnxruntime-web's WASM build under vendor/ and the
// model under model/; nothing is fetched from anywhere else.

import * as ort from "./vendor/ort.wasm.bundle.min.js";
import { Classifier } from "./classifier.js";

// One thread: needs no SharedArrayBuffer, so no cross-origin isolation headers.
ort.env.wasm.numThreads = 1;
ort.env.wasm.proxy = false;
// The JS glue is inside the bundle; only the .wasm is fetched, from beside it.
ort.env.wasm.wasmPaths = { wasm: new URL("./vendor/ort-wasm-simd-threaded.wasm", import.meta.url).href };

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let classifier = null;
let typing = 0;

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not load ${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

async function fetchJSON(url) {
  const bytes = await fetchBytes(url);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new Error(`${url} is not valid JSON: ${err.message}`);
  }
}

/** A model folder served over http: <folder>/model.onnx and <folder>/model.onnx.json. */
async function loadFromFolder(folder) {
  const base = new URL(folder.endsWith("/") ? folder : folder + "/", location.href);
  const sidecarURL = new URL("model.onnx.json", base).href;
  const [sidecar, model] = await Promise.all([fetchJSON(sidecarURL), fetchBytes(new URL("model.onnx", base).href)]);
  return Classifier.create(ort, model, sidecar, `sidecar ${sidecarURL}`);
}

/** The same pair picked from the local disk. */
async function loadFromFiles(files) {
  const list = [...files];
  const sidecarFile = list.find((f) => f.name.endsWith(".onnx.json")) || list.find((f) => f.name.endsWith(".json"));
  const modelFile = list.find((f) => f.name.endsWith(".onnx"));
  if (!modelFile || !sidecarFile) throw new Error("pick both files: the .onnx model and its .onnx.json sidecar");
  let sidecar;
  try {
    sidecar = JSON.parse(await sidecarFile.text());
  } catch (err) {
    throw new Error(`${sidecarFile.name} is not valid JSON: ${err.message}`);
  }
  return Classifier.create(ort, await modelFile.arrayBuffer(), sidecar, `sidecar ${sidecarFile.name}`);
}

function describe(clf, source) {
  const rules = clf.card.rules;
  $("model-info").textContent =
    `Model from ${source}: ${clf.labels.join(", ")} · ${rules.characters.length} characters, ` +
    `up to ${rules.sequenceLength} per name · sha256 ${clf.card.sha256.slice(0, 12)}… ${clf.checksum}`;
  $("footer").textContent = `onnxruntime-web ${ort.env.versions?.web ?? ""} (WASM, 1 thread) · nameort page`;
  for (const id of ["name", "list", "run-list"]) $(id).disabled = false;
}

function statusChip(status) {
  const chip = document.createElement("span");
  chip.className = "status";
  if (status === "empty" || status === "unsupported") chip.classList.add("bad");
  else if (status !== "ok") chip.classList.add("warn");
  chip.textContent = status;
  return chip;
}

function percent(p) {
  return p === null ? "–" : `${(100 * p).toFixed(1)} %`;
}

function renderSingle(result) {
  const box = $("single");
  box.replaceChildren();
  if (!result) return;
  if (result.label !== null) {
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = result.label;
    box.append(label, document.createTextNode(percent(result.confidence) + " "));
  }
  box.append(statusChip(result.status));
  if (result.unknown_chars) box.append(document.createTextNode(` unknown: ${[...result.unknown_chars].join(" ")}`));
  if (result.label !== null) {
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(100 * result.confidence).toFixed(1)}%`;
    bar.append(fill);
    const probs = document.createElement("div");
    probs.className = "probs";
    probs.textContent = Object.entries(result.probabilities)
      .sort((a, b) => b[1] - a[1])
      .map(([label, p]) => `${label} ${percent(p)}`)
      .join(" · ");
    box.append(bar, probs);
  }
}

function renderTable(results) {
  const body = $("table").tBodies[0];
  body.replaceChildren(
    ...results.map((r) => {
      const row = document.createElement("tr");
      const cells = [r.name, r.label ?? "–", percent(r.confidence)].map((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 2) td.className = "num";
        return td;
      });
      const status = document.createElement("td");
      status.append(statusChip(r.status));
      row.append(...cells, status);
      return row;
    }),
  );
  $("table").hidden = results.length === 0;
}

function publish(results, started) {
  $("results").textContent = JSON.stringify(results, null, 1);
  document.body.dataset.lastRunMs = (performance.now() - started).toFixed(2); // encode + run + softmax
  if (!document.body.dataset.firstResultMs) document.body.dataset.firstResultMs = performance.now().toFixed(0);
}

async function classifyList(names) {
  const started = performance.now();
  const results = await classifier.predictMany(names);
  renderTable(results);
  publish(results, started);
  return results;
}

async function onTyped() {
  const name = $("name").value;
  const ticket = ++typing;
  if (name === "") return renderSingle(null);
  const started = performance.now();
  const [result] = await classifier.predictMany([name]);
  if (ticket !== typing) return; // a newer keystroke already answered
  renderSingle(result);
  publish([result], started);
}

function listNames() {
  // One name per line; only the line ending is removed, as `nameort classify -` does.
  const text = $("list").value;
  if (text === "") return [];
  return text.replace(/\r?\n$/, "").split(/\r?\n/);
}

async function useModel(load, source) {
  $("error").hidden = true;
  const before = $("model-info").textContent;
  $("model-info").textContent = "Loading the model…";
  try {
    classifier = await load();
  } catch (err) {
    $("model-info").textContent = classifier ? before : "No model loaded.";
    throw err;
  }
  describe(classifier, source);
}

async function main() {
  const folder = params.get("model") || "model/";
  const names = params.has("names") ? params.get("names").split(",") : null;
  try {
    await useModel(() => loadFromFolder(folder), folder);
    if (names) {
      $("list").value = names.join("\n");
      $("list").rows = Math.min(12, Math.max(6, names.length));
      await classifyList(names);
      document.body.dataset.done = "1";
    }
  } catch (err) {
    showError(err.message);
    if (names) {
      $("results").textContent = JSON.stringify({ error: err.message });
      document.body.dataset.error = err.message;
      document.body.dataset.done = "1";
    }
  }
}

$("name").addEventListener("input", () => onTyped().catch((err) => showError(err.message)));
$("run-list").addEventListener("click", () => classifyList(listNames()).catch((err) => showError(err.message)));
$("model-files").addEventListener("change", (event) => {
  const files = event.target.files;
  useModel(() => loadFromFiles(files), [...files].map((f) => f.name).join(" + "))
    .then(() => onTyped())
    .catch((err) => showError(err.message));
});

main();
