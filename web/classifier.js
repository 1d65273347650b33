// A nameort model in the browser: the sidecar read and checked as the Python
// runtime does (runtime/nameort/sidecar.py, classifier.py), the ONNX model run
// on onnxruntime-web, and one prediction per name in the Python runtime's shape.
//
// `ort` is passed in rather than imported, so this module (like encoder.js) has
// no dependency a Node test would have to load.

import { Encoder, rulesFromJSON } from "./encoder.js";

export const FORMAT = "nameort-model";
export const FORMAT_VERSION = 1;
const REQUIRED_KEYS = ["format", "format_version", "model_sha256", "labels", "encoding"];
const BATCH_SIZE = 1024;

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
  return { sha256: String(data.model_sha256), labels, rules, metrics: data.metrics || {}, training: data.training || {} };
}

/** Hex sha256 of the model bytes, or null where the browser offers no WebCrypto (plain http off localhost). */
export async function sha256Hex(bytes) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle) return null;
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** classifier._softmax for one row, in float64. */
export function softmax(logits) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const z = Array.from(logits, (v) => Math.exp(v - max));
  let sum = 0;
  for (const v of z) sum += v;
  return z.map((v) => v / sum);
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
      for (let i = 0; i < chunk.length; i++) rows.push(softmax(output.data.subarray(i * n, (i + 1) * n)));
      input.dispose?.();
      output.dispose?.();
    }
    return rows;
  }

  /**
   * Classifier.predict_many: one result per name, in order; each distinct name
   * and text is run once. Results carry the fields of Prediction.to_dict.
   */
  async predictMany(names) {
    const prepared = new Map();
    for (const name of names) if (!prepared.has(name)) prepared.set(name, this.encoder.prepare(name));
    const texts = [...new Set([...prepared.values()].filter((p) => p.usable).map((p) => p.text))];
    const probs = await this.probabilities(texts);
    const rowOf = new Map(texts.map((t, i) => [t, i]));
    return names.map((name) => this.prediction(prepared.get(name), probs, rowOf));
  }

  prediction(p, probs, rowOf) {
    // The field order of Prediction.to_dict.
    const tail = { unknown_chars: p.unknown, text: p.text };
    if (!p.usable) return { name: p.name, label: null, confidence: null, status: p.status, probabilities: {}, ...tail };
    const row = probs[rowOf.get(p.text)];
    let best = 0;
    for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
    const probabilities = {};
    this.labels.forEach((label, i) => {
      probabilities[label] = row[i];
    });
    return { name: p.name, label: this.labels[best], confidence: row[best], status: p.status, probabilities, ...tail };
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
