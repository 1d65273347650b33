// A nameort model in the browser: the sidecar read and checked as the Python
// runtime does (runtime/nameort/sidecar.py, decision.py, classifier.py), the
// ONNX model run on onnxruntime-web, and one prediction per name in the Python
// runtime's shape, answered by the sidecar's decision rules (temperature,
// background label, foreign letters, letters only some labels write) exactly as
// decision.restrict_to_letters and decision.decide answer it.
//
// `ort` is passed in rather than imported, so this module (like encoder.js) has
// no dependency a Node test would have to load.
//
// Where JavaScript and Python can disagree, and what is done about it:
// - A foreign letter is a Unicode letter (Python str.isalpha(), JavaScript
//   \p{L}: the same five categories L*) whose lower-case form is not in the
//   vocabulary. str.lower() and toLowerCase() are both the locale-free full
//   mapping ("İ" becomes "i" + U+0307 in both; "ẞ" becomes "ß"); the tests check
//   both, code point by code point, over every character Python assigns.
// - The Unicode versions differ (Python 3.11: 14; Chromium and Node 20: 15 to
//   17). A letter assigned only in the newer version (about 14,000, most of them CJK
//   extensions) is a foreign letter here and an unassigned character, so not a
//   letter, to Python. Either way the model never sees it.

import { Encoder, LOW_CONFIDENCE, rulesFromJSON, statusString } from "./encoder.js";

export const FORMAT = "nameort-model";
export const FORMAT_VERSION = 1;
const REQUIRED_KEYS = ["format", "format_version", "model_sha256", "labels", "encoding"];
const BATCH_SIZE = 1024;
export const UNKNOWN_LABEL = "unknown"; // classifier.UNKNOWN_LABEL: the answer under the confidence threshold

// Python's bool() of a JSON value.
function pyTruthy(value) {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === "object") return Object.keys(value).length > 0;
  return Boolean(value);
}

/** A number as Python's repr(float(x)) writes it, for the common cases (0 -> "0.0"), so messages match. */
function pyFloat(x) {
  return Number.isInteger(x) && Math.abs(x) < 1e16 ? x.toFixed(1) : String(x);
}

/** A string as Python's repr() writes it when it holds no quote, backslash or control character. */
function pyStr(text) {
  return /^[^'"\\\p{Cc}]*$/u.test(text) ? `'${text}'` : JSON.stringify(text);
}

function jsonNumber(data, key, fallback) {
  if (!(key in data)) return fallback;
  const value = data[key];
  // Python's float() also reads numeric strings; export writes numbers, so only numbers are taken here.
  if (typeof value === "boolean") return Number(value);
  if (typeof value !== "number") throw new Error(`${key} must be a number, not ${JSON.stringify(value)}`);
  return value;
}

/**
 * DecisionRules.from_json + __post_init__: the sidecar's optional "decision"
 * object (absent: a plain argmax). Throws an Error with a one-line message.
 */
export function decisionFromJSON(data, labels) {
  if (data === undefined || data === null) {
    return { temperature: 1, otherLabel: null, otherThreshold: 0.5, foreignLetters: false, letterMasks: new Map() };
  }
  if (typeof data !== "object" || Array.isArray(data)) throw new Error("decision must be a JSON object");
  const rules = {
    temperature: jsonNumber(data, "temperature", 1),
    otherLabel: data.other_label === undefined || data.other_label === null ? null : String(data.other_label),
    otherThreshold: jsonNumber(data, "other_threshold", 0.5),
    foreignLetters: pyTruthy(data.foreign_letters ?? false),
  };
  const letterLabels = letterLabelsFromJSON(data.letter_labels ?? {}, labels);
  if (!(Number.isFinite(rules.temperature) && rules.temperature > 0)) {
    throw new Error(`temperature must be a positive number, not ${pyFloat(rules.temperature)}`);
  }
  if (!(rules.otherThreshold >= 0 && rules.otherThreshold <= 1)) {
    throw new Error(`other_threshold must be between 0 and 1, not ${pyFloat(rules.otherThreshold)}`);
  }
  if (rules.foreignLetters && rules.otherLabel === null) throw new Error("foreign_letters needs an other_label to answer");
  if (rules.otherLabel !== null && !labels.includes(rules.otherLabel)) {
    throw new Error(`other_label ${pyStr(rules.otherLabel)} is not one of the labels`);
  }
  // decision._letter_masks: letter -> may a name holding it be each label? (the background label always may)
  rules.letterMasks = new Map(
    letterLabels.map(([letter, listed]) => [letter, labels.map((l) => listed.includes(l) || l === rules.otherLabel)]),
  );
  return rules;
}

const ASCII = /^[\x00-\x7f]*$/;

/** decision._letter_labels: the sidecar's "letter_labels" object, checked, as [letter, labels] pairs. */
function letterLabelsFromJSON(data, labels) {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new Error("letter_labels must be a JSON object");
  }
  const entries = [];
  for (const [letter, listed] of Object.entries(data)) {
    if (Array.from(letter).length !== 1 || ASCII.test(letter)) {
      throw new Error(`letter_labels: ${pyStr(letter)} is not one character beyond ASCII`);
    }
    if (!Array.isArray(listed) || !listed.length || !listed.every((l) => typeof l === "string")) {
      throw new Error(`letter_labels: ${pyStr(letter)} must list labels`);
    }
    for (const label of listed) {
      if (!labels.includes(label)) throw new Error(`letter_labels: ${pyStr(label)} is not one of the labels`);
    }
    entries.push([letter, listed]);
  }
  return entries;
}

/**
 * decision.restrict_to_letters for one row: the row kept to the labels the name's letters allow,
 * summing to 1 again (a new array), or the row itself when they rule nothing out.
 */
export function restrictToLetters(row, name, rules) {
  if (!rules.letterMasks.size || ASCII.test(name)) return row;
  let allowed = null;
  for (const ch of name.normalize("NFC")) {
    let mask = rules.letterMasks.get(ch);
    if (mask === undefined) mask = rules.letterMasks.get(ch.toLowerCase());
    if (mask !== undefined) allowed = allowed === null ? mask : allowed.map((a, i) => a && mask[i]);
  }
  if (allowed === null || allowed.every(Boolean) || !allowed.some(Boolean)) return row;
  const kept = Array.from(row, (v, i) => (allowed[i] ? v : 0));
  let total = 0;
  for (const v of kept) total += v;
  return total > 0 ? kept.map((v) => v / total) : row;
}

/** sidecar.read_card without the file system: every problem is an Error with a one-line message. */
export function readSidecar(data, where = "the sidecar") {
  if (data === null || typeof data !== "object" || Array.isArray(data)) throw new Error(`${where} is not a JSON object`);
  const missing = REQUIRED_KEYS.filter((k) => !(k in data));
  if (missing.length) throw new Error(`${where} lacks ${missing.join(", ")}`);
  if (data.format !== FORMAT) throw new Error(`${where} is not a nameort sidecar (format ${JSON.stringify(data.format)})`);
  if (data.format_version !== FORMAT_VERSION) {
    throw new Error(
      `${where} has format version ${JSON.stringify(data.format_version)}; this page reads version ${FORMAT_VERSION}`,
    );
  }
  let rules;
  try {
    rules = rulesFromJSON(data.encoding);
  } catch (err) {
    throw new Error(`${where} has a bad encoding entry: ${err.message}`);
  }
  if (!Array.isArray(data.labels)) throw new Error(`${where} has a bad labels entry`);
  const labels = data.labels.map(String);
  if (labels.length < 2 || new Set(labels).size !== labels.length) {
    throw new Error(`${where} must list at least 2 distinct labels`);
  }
  let decision;
  try {
    decision = decisionFromJSON(data.decision, labels);
  } catch (err) {
    throw new Error(`${where} has a bad decision entry: ${err.message}`);
  }
  return {
    sha256: String(data.model_sha256),
    labels,
    rules,
    decision,
    metrics: data.metrics || {},
    training: data.training || {},
  };
}

/** Hex sha256 of the model bytes, or null where the browser offers no WebCrypto (plain http off localhost). */
export async function sha256Hex(bytes) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null;
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** decision.softmax for one row: softmax(logits / temperature), in float64, in Python's order of operations. */
export function softmax(logits, temperature = 1) {
  let z = Array.from(logits, Number);
  if (temperature !== 1) z = z.map((v) => v / temperature);
  let max = -Infinity;
  for (const v of z) if (v > max) max = v;
  z = z.map((v) => Math.exp(v - max));
  let sum = 0;
  for (const v of z) sum += v;
  return z.map((v) => v / sum);
}

/** decision.foreign_letters: the letters among `unknown` that neither as given nor lower-cased are in `vocabulary` (a Map or Set). */
export function foreignLetters(unknown, vocabulary) {
  return Array.from(unknown)
    .filter((ch) => /\p{L}/u.test(ch) && !vocabulary.has(ch.toLowerCase()))
    .join("");
}

/** First index of the largest value (numpy's argmax), skipping `skip`. */
function argmax(row, skip = -1) {
  let best = -1;
  for (let i = 0; i < row.length; i++) if (i !== skip && (best < 0 || row[i] > row[best])) best = i;
  return best;
}

/**
 * decision.decide for one row of probabilities: [index of the answered label, its probability].
 * `foreign`: whether the name holds a foreign letter; `otherThreshold` (or null) overrides the model's.
 */
export function decide(row, rules, labels, otherThreshold = null, foreign = false) {
  if (rules.otherLabel === null) {
    const best = argmax(row);
    return [best, row[best]];
  }
  const other = labels.indexOf(rules.otherLabel);
  let best = argmax(row, other);
  const threshold = otherThreshold === null ? rules.otherThreshold : otherThreshold;
  if (row[other] >= threshold || (rules.foreignLetters && foreign)) best = other;
  return [best, row[best]];
}

/**
 * What the background label means, in words from the model's other labels:
 * "not German or Italian", "not German, Italian or Spanish"; past four labels
 * "none of the 17 other labels".
 */
export function otherMeaning(labels, otherLabel) {
  const real = labels.filter((label) => label !== otherLabel);
  if (real.length <= 4) {
    const last = real[real.length - 1];
    return real.length === 1 ? `not ${last}` : `not ${real.slice(0, -1).join(", ")} or ${last}`;
  }
  return `none of the ${real.length} other labels`;
}

/** classifier._check_options + decision.check_other_threshold, with the runtime's messages. */
export function checkOptions(card, { topK = null, threshold = null, otherThreshold = null } = {}) {
  const n = card.labels.length;
  if (topK !== null && !(Number.isInteger(topK) && topK >= 1 && topK <= n)) {
    throw new Error(`top_k must be between 1 and ${n} (the number of labels), not ${topK}`);
  }
  if (threshold !== null && !(threshold >= 0 && threshold <= 1)) {
    throw new Error(`threshold must be between 0 and 1, not ${threshold}`);
  }
  if (otherThreshold !== null) {
    if (card.decision.otherLabel === null) {
      throw new Error("other_threshold needs a model with a background label (this one has none)");
    }
    if (!(otherThreshold >= 0 && otherThreshold <= 1)) {
      throw new Error(`other_threshold must be between 0 and 1, not ${otherThreshold}`);
    }
  }
}

export class Classifier {
  /** Use Classifier.create(ort, modelBytes, sidecarJSON). */
  constructor(ort, session, card, checksum) {
    this.ort = ort;
    this.session = session;
    this.card = card;
    this.labels = card.labels;
    this.encoder = new Encoder(card.rules);
    this.checksum = checksum; // "verified" or "not verified (...)"
    this.inputName = session.inputNames[0];
    this.outputName = session.outputNames[0];
    this.queue = Promise.resolve(); // one session.run at a time (keystrokes can overlap)
  }

  static async create(ort, modelBytes, sidecar, where = "the sidecar") {
    const card = readSidecar(sidecar, where);
    const actual = await sha256Hex(modelBytes);
    let checksum = "verified";
    if (actual === null) checksum = "not verified (WebCrypto needs https or localhost)";
    else if (actual !== card.sha256) {
      throw new Error(
        `model.onnx does not match its sidecar (sha256 ${actual.slice(0, 12)}... recorded ${card.sha256.slice(0, 12)}...)`,
      );
    }
    const session = await ort.InferenceSession.create(new Uint8Array(modelBytes), {
      executionProviders: ["wasm"],
      graphOptimizationLevel: "all",
    });
    checkShapes(card, session);
    return new Classifier(ort, session, card, checksum);
  }

  /** Class probabilities (float64 arrays) for already-prepared texts. */
  probabilities(texts) {
    const result = this.queue.then(() => this.runBatches(texts));
    this.queue = result.catch(() => {});
    return result;
  }

  async runBatches(texts) {
    const L = this.card.rules.sequenceLength;
    const V = this.encoder.vocabSize;
    const rows = [];
    for (let start = 0; start < texts.length; start += BATCH_SIZE) {
      const chunk = texts.slice(start, start + BATCH_SIZE);
      const input = new this.ort.Tensor("float32", this.encoder.oneHot(chunk), [chunk.length, L, V]);
      const output = (await this.session.run({ [this.inputName]: input }))[this.outputName];
      const n = this.labels.length;
      const temperature = this.card.decision.temperature;
      for (let i = 0; i < chunk.length; i++) rows.push(softmax(output.data.subarray(i * n, (i + 1) * n), temperature));
      input.dispose?.();
      output.dispose?.();
    }
    return rows;
  }

  /**
   * Classifier.predict_many: one result per name, in order; each distinct name
   * and text is run once. Results carry the fields of Prediction.to_dict.
   * Options as the runtime's keywords: topK (adds `top`), threshold (under it:
   * "unknown" + low_confidence), otherThreshold (the background label's operating point).
   */
  async predictMany(names, options = {}) {
    const opts = { topK: null, threshold: null, otherThreshold: null, ...options };
    checkOptions(this.card, opts);
    const prepared = new Map();
    for (const name of names) if (!prepared.has(name)) prepared.set(name, this.encoder.prepare(name));
    const texts = [...new Set([...prepared.values()].filter((p) => p.usable).map((p) => p.text))];
    const probs = await this.probabilities(texts);
    const rowOf = new Map(texts.map((t, i) => [t, i]));
    return names.map((name) => this.prediction(prepared.get(name), probs, rowOf, opts));
  }

  /** Does the prepared name hold a foreign letter? (Only asked when the model uses them.) */
  foreign(p) {
    return this.card.decision.foreignLetters && p.unknown !== "" && foreignLetters(p.unknown, this.encoder.index) !== "";
  }

  prediction(p, probs, rowOf, { topK = null, threshold = null, otherThreshold = null } = {}) {
    // The field order of Prediction.to_dict.
    const tail = { unknown_chars: p.unknown, text: p.text };
    if (!p.usable) return { name: p.name, label: null, confidence: null, status: p.status, probabilities: {}, ...tail };
    const row = restrictToLetters(probs[rowOf.get(p.text)], p.name, this.card.decision);
    const [best, confidence] = decide(row, this.card.decision, this.labels, otherThreshold, this.foreign(p));
    let label = this.labels[best];
    let status = p.status;
    if (threshold !== null && confidence < threshold) {
      label = UNKNOWN_LABEL;
      status = statusString([...p.flags, LOW_CONFIDENCE]);
    }
    const probabilities = {};
    this.labels.forEach((name, i) => {
      probabilities[name] = row[i];
    });
    const result = { name: p.name, label, confidence, status, probabilities, ...tail };
    if (topK) {
      // numpy's argsort(-row, kind="stable"): ties keep the model's label order (Array.sort is stable).
      const order = row.map((_, i) => i).sort((a, b) => row[b] - row[a]);
      result.top = order.slice(0, topK).map((i) => [this.labels[i], row[i]]);
    }
    return result;
  }
}

/** classifier._check_shapes, as far as onnxruntime-web reports the model's metadata. */
function checkShapes(card, session) {
  if (session.inputNames.length !== 1 || session.outputNames.length < 1) {
    throw new Error(
      `model.onnx: expected 1 input and 1 output, found ${session.inputNames.length} and ${session.outputNames.length}`,
    );
  }
  const input = session.inputMetadata?.[0];
  const output = session.outputMetadata?.[0];
  const L = card.rules.sequenceLength;
  const V = card.rules.characters.length;
  if (input?.isTensor && input.shape.length) {
    const [, l, v] = input.shape;
    if (input.shape.length !== 3 || l !== L || v !== V) {
      throw new Error(
        `model.onnx: input shape [${input.shape}] does not match the sidecar (sequence length ${L}, vocabulary ${V})`,
      );
    }
    if (input.type !== "float32") throw new Error(`model.onnx: input type ${input.type} is not float32`);
  }
  if (output?.isTensor && output.shape.length) {
    if (output.shape.length !== 2 || output.shape[1] !== card.labels.length) {
      throw new Error(
        `model.onnx: output shape [${output.shape}] does not match the sidecar's ${card.labels.length} labels`,
      );
    }
  }
}
