// The page: load a model folder, classify what is typed or pasted, and answer
// ?names=a,b,c for automation (JSON in #results, then <body data-done="1">).
// ?threshold=, ?other_threshold= and ?top_k= set the options the runtime's
// classify takes (--threshold, --other-threshold, --top-k); so do the Options controls.
//
// `nameort web build` puts onnxruntime-web's WASM build under vendor/ and the
// model under model/; nothing is fetched from anywhere else.

import * as ort from "./vendor/ort.wasm.bundle.min.js";
import { Classifier, decide, foreignLetters, otherMeaning, UNKNOWN_LABEL } from "./classifier.js";

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

/** How the model answers its background label, in words (empty for a closed-set model). */
function decisionText(clf) {
  const d = clf.card.decision;
  const parts = [];
  if (d.otherLabel !== null) {
    let rule = `answers ${d.otherLabel} (${otherMeaning(clf.labels, d.otherLabel)}) from P(${d.otherLabel}) ≥ ${percent(d.otherThreshold)}`;
    if (d.foreignLetters) rule += " or when the name holds a letter none of its names use";
    parts.push(rule);
  }
  if (d.temperature !== 1) parts.push(`temperature ${d.temperature}`);
  return parts.length ? ` · ${parts.join(" · ")}` : "";
}

function describe(clf, source) {
  const rules = clf.card.rules;
  $("model-info").textContent =
    `Model from ${source}: ${clf.labels.length} labels (${clf.labels.join(", ")})${decisionText(clf)} · ` +
    `${rules.characters.length} characters, up to ${rules.sequenceLength} per name · ` +
    `sha256 ${clf.card.sha256.slice(0, 12)}… ${clf.checksum}`;
  $("footer").textContent = `onnxruntime-web ${ort.env.versions?.web ?? ""} (WASM, 1 thread) · nameort page`;
  const other = clf.card.decision.otherLabel;
  $("other-option").hidden = other === null;
  if (other !== null) {
    $("other-name").textContent = other;
    $("other-threshold").placeholder = String(clf.card.decision.otherThreshold);
  }
  $("top-k").max = String(clf.labels.length);
  for (const id of ["name", "list", "run-list"]) $(id).disabled = false;
}

/** A number field: null when empty; an Error naming the option when it is not a number. */
function numberField(id, name) {
  const text = $(id).value.trim();
  if (text === "") return null;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, not ${JSON.stringify(text)}`);
  return value;
}

/** The options for predictMany, from the Options controls (which ?threshold= etc. fill in). */
function options() {
  return {
    threshold: numberField("threshold", "threshold"),
    otherThreshold: classifier.card.decision.otherLabel === null ? null : numberField("other-threshold", "other_threshold"),
    topK: numberField("top-k", "top_k"),
  };
}

/** Why a name was answered with the background label, or under the threshold; "" otherwise. */
function reason(result, opts) {
  const d = classifier.card.decision;
  const letters = d.foreignLetters ? foreignLetters(result.unknown_chars, classifier.encoder.index) : "";
  if (result.label === UNKNOWN_LABEL && opts.threshold !== null) {
    // The answer the threshold turned down, found again by the same rules.
    const row = classifier.labels.map((label) => result.probabilities[label]);
    const [best] = decide(row, d, classifier.labels, opts.otherThreshold, letters !== "");
    return `${classifier.labels[best]}, under the ${percent(opts.threshold)} confidence threshold`;
  }
  if (d.otherLabel === null || result.label !== d.otherLabel) return "";
  const meaning = otherMeaning(classifier.labels, d.otherLabel);
  const threshold = opts.otherThreshold ?? d.otherThreshold;
  if (result.probabilities[d.otherLabel] < threshold && letters) {
    const list = [...letters];
    return `${meaning}: ${list.join(" ")} ${list.length === 1 ? "is a letter" : "are letters"} none of its names use`;
  }
  return meaning;
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

// Probabilities listed under a typed name: all of them for a few labels, the best ones for many.
const SHOWN_LABELS = 5;

/** The labels by probability, best first (ties in model order, as top_k ranks them). */
function ranked(result) {
  return Object.entries(result.probabilities).sort((a, b) => b[1] - a[1]);
}

function renderSingle(result, opts) {
  const box = $("single");
  box.replaceChildren();
  if (!result) return;
  if (result.label !== null) {
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = result.label;
    box.append(label, document.createTextNode(percent(result.confidence) + " "));
    const why = reason(result, opts);
    if (why) {
      const note = document.createElement("span");
      note.className = "meaning";
      note.textContent = why;
      box.append(note, document.createTextNode(" "));
    }
  }
  box.append(statusChip(result.status));
  if (result.unknown_chars) box.append(document.createTextNode(` unknown: ${[...result.unknown_chars].join(" ")}`));
  if (result.label !== null) {
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(100 * result.confidence).toFixed(1)}%`;
    bar.append(fill);
    const list = ranked(result);
    const shown = list.slice(0, opts.topK ?? (list.length <= SHOWN_LABELS + 1 ? list.length : SHOWN_LABELS));
    const probs = document.createElement("ol");
    probs.className = "probs";
    for (const [label, p] of shown) {
      const item = document.createElement("li");
      item.textContent = `${label} ${percent(p)}`;
      probs.append(item);
    }
    if (shown.length < list.length) {
      const rest = document.createElement("li");
      rest.className = "rest";
      rest.textContent = `${list.length - shown.length} more below ${percent(shown[shown.length - 1][1])}`;
      probs.append(rest);
    }
    box.append(bar, probs);
  }
}

function renderTable(results, opts) {
  // Models with more than two labels get the runners-up: the next two labels by probability.
  const runnersUp = classifier.labels.length > 2;
  $("runners-up").hidden = !runnersUp;
  const body = $("table").tBodies[0];
  body.replaceChildren(
    ...results.map((r) => {
      const row = document.createElement("tr");
      const label = document.createElement("td");
      label.textContent = r.label ?? "–";
      const why = r.label === null ? "" : reason(r, opts);
      if (why) {
        const note = document.createElement("span");
        note.className = "meaning";
        note.textContent = ` ${why}`;
        label.append(note);
      }
      const name = document.createElement("td");
      name.textContent = r.name;
      const confidence = document.createElement("td");
      confidence.textContent = percent(r.confidence);
      confidence.className = "num";
      row.append(name, label, confidence);
      if (runnersUp) {
        const next = document.createElement("td");
        next.className = "probs";
        if (r.label !== null) {
          for (const [l, p] of ranked(r).filter(([l]) => l !== r.label).slice(0, 2)) {
            const item = document.createElement("span");
            item.className = "runner-up";
            item.textContent = `${l} ${percent(p)}`;
            next.append(item);
          }
        }
        row.append(next);
      }
      const status = document.createElement("td");
      status.append(statusChip(r.status));
      row.append(status);
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
  const opts = options();
  const results = await classifier.predictMany(names, opts);
  renderTable(results, opts);
  publish(results, started);
  return results;
}

async function onTyped() {
  const name = $("name").value;
  const ticket = ++typing;
  if (name === "") return renderSingle(null);
  const started = performance.now();
  const opts = options();
  const [result] = await classifier.predictMany([name], opts);
  if (ticket !== typing) return; // a newer keystroke already answered
  renderSingle(result, opts);
  publish([result], started);
}

/** Options changed: answer the typed name and the list (if it was run) again. */
async function onOptions() {
  $("error").hidden = true;
  if (!classifier) return;
  await onTyped();
  if (!$("table").hidden) await classifyList(listNames());
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

/** "german-italian (model/)" when `nameort web build` recorded a bundled model's name; else the folder. */
async function builtModelName(folder) {
  try {
    const name = (await fetchJSON("build.json")).model_name;
    return typeof name === "string" ? `${name} (${folder})` : folder;
  } catch {
    return folder; // not a built site (e.g. web/ served as is): nothing to say
  }
}

async function main() {
  const folder = params.get("model") || "model/";
  const names = params.has("names") ? params.get("names").split(",") : null;
  for (const [param, id] of [["threshold", "threshold"], ["other_threshold", "other-threshold"], ["top_k", "top-k"]]) {
    if (params.has(param)) $(id).value = params.get(param);
  }
  try {
    await useModel(() => loadFromFolder(folder), params.has("model") ? folder : await builtModelName(folder));
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
for (const id of ["threshold", "other-threshold", "top-k"]) {
  $(id).addEventListener("change", () => onOptions().catch((err) => showError(err.message)));
}
$("run-list").addEventListener("click", () => classifyList(listNames()).catch((err) => showError(err.message)));
$("model-files").addEventListener("change", (event) => {
  const files = event.target.files;
  useModel(() => loadFromFiles(files), [...files].map((f) => f.name).join(" + "))
    .then(() => onTyped())
    .catch((err) => showError(err.message));
});

main();
