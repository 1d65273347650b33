// The sidecar checks of web/classifier.js (mirroring sidecar.read_card) and the
// prediction shape; needs no vectors and no onnxruntime-web.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Classifier, otherMeaning, readSidecar } from "../classifier.js";

const sidecar = () => ({
  format: "nameort-model",
  format_version: 1,
  model_sha256: "0".repeat(64),
  labels: ["German", "Italian"],
  encoding: { characters: ["a", "b", "c"], sequence_length: 4 },
});

test("a good sidecar is read with the runtime's defaults", () => {
  const card = readSidecar(sidecar());
  assert.deepEqual(card.labels, ["German", "Italian"]);
  assert.equal(card.rules.normalization, "NFC");
  assert.equal(card.rules.stripWhitespace, true);
  assert.equal(card.rules.foldAccents, true);
  assert.equal(card.rules.equivalents.get("\u2019"), "'");
});

test("bad sidecars fail with one line", () => {
  const cases = [
    [(s) => delete s.labels, /lacks labels/],
    [(s) => (s.format = "other"), /not a nameort sidecar/],
    [(s) => (s.format_version = 2), /format version 2/],
    [(s) => (s.labels = ["A"]), /at least 2 distinct labels/],
    [(s) => (s.labels = ["A", "A"]), /at least 2 distinct labels/],
    [(s) => (s.encoding.characters = ["a", "a"]), /unique/],
    [(s) => (s.encoding.sequence_length = 0), /at least 1/],
    [(s) => (s.encoding.normalization = "NFX"), /unknown normalization/],
    [(s) => (s.encoding.equivalents = null), /equivalents/],
  ];
  for (const [spoil, message] of cases) {
    const data = sidecar();
    spoil(data);
    assert.throws(() => readSidecar(data), (err) => message.test(err.message) && !err.message.includes("\n"));
  }
  assert.throws(() => readSidecar([]), /not a JSON object/);
});

test("predictions have Prediction.to_dict's fields, and none for unusable names", async () => {
  const card = readSidecar(sidecar());
  // A stand-in session: logits [1, 0] for every row.
  const ort = { Tensor: class { constructor(type, data, dims) { Object.assign(this, { type, data, dims }); } } };
  const session = {
    inputNames: ["x"],
    outputNames: ["y"],
    run: async ({ x }) => ({ y: { data: Float32Array.from({ length: x.dims[0] * 2 }, (_, i) => (i % 2 ? 0 : 1)) } }),
  };
  const clf = new Classifier(ort, session, card, "verified");
  const [ok, empty, unsupported] = await clf.predictMany(["abz", "  ", "zz"]);
  assert.deepEqual(Object.keys(ok), ["name", "label", "confidence", "status", "probabilities", "unknown_chars", "text"]);
  assert.equal(ok.label, "German");
  assert.equal(ok.status, "unknown_chars");
  assert.equal(ok.text, "ab");
  assert.ok(Math.abs(ok.confidence - 1 / (1 + Math.exp(-1))) < 1e-15);
  assert.deepEqual(empty, { name: "  ", label: null, confidence: null, status: "empty", probabilities: {}, unknown_chars: "", text: "" });
  assert.equal(unsupported.status, "unsupported");
  assert.equal(unsupported.unknown_chars, "z");
});

test("the background label is explained in words from the model's other labels", () => {
  assert.equal(otherMeaning(["German", "Italian", "other"], "other"), "not German or Italian");
  assert.equal(otherMeaning(["other", "German"], "other"), "not German");
  assert.equal(otherMeaning(["German", "Italian", "Spanish", "Polish", "other"], "other"), "not German, Italian, Spanish or Polish");
  const many = ["A", "B", "C", "D", "E", "F"];
  assert.equal(otherMeaning([...many, "rest"], "rest"), "none of the 6 other labels");
});
