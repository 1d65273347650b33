// The decision rules of web/classifier.js (temperature, background label,
// foreign letters, threshold, top-k) against the Python runtime.
//
// tests/web_vectors.py runs the runtime's own Classifier on a stand-in session that
// answers fixed logits per text, for models with and without a "decision" entry,
// and writes every prediction into the vectors (NAMEORT_WEB_VECTORS). Here the
// same logits go through web/classifier.js on a stand-in onnxruntime-web
// session: labels, statuses and top-k orders must be identical, numbers equal
// to 1e-12 (both compute in float64, in the same order of operations).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Classifier, checkOptions, decisionFromJSON, foreignLetters, readSidecar } from "../classifier.js";

const path = process.env.NAMEORT_WEB_VECTORS;
if (!path) {
  throw new Error("NAMEORT_WEB_VECTORS is not set: run these tests through `pytest tests/test_web.py`");
}
const vectors = JSON.parse(readFileSync(path, "utf8"));
const { names, models, bad } = vectors.decision;
const letters = vectors.letters;
const chr = (cp) => String.fromCodePoint(cp);

function* inRanges(ranges) {
  for (const [first, last] of ranges) for (let cp = first; cp <= last; cp++) yield cp;
}

function expectNone(mismatches, what) {
  if (mismatches.length) {
    assert.fail(`${mismatches.length} ${what} differ from Python; first:\n` + mismatches.slice(0, 8).join("\n"));
  }
}

/** An onnxruntime-web stand-in whose session answers each one-hot row with the logits Python used for its text. */
function tableClassifier(sidecar, logits) {
  const card = readSidecar(sidecar);
  const vocabulary = card.rules.characters;
  const [L, V] = [card.rules.sequenceLength, vocabulary.length];
  const n = card.labels.length;
  const ort = { Tensor: class { constructor(type, data, dims) { Object.assign(this, { type, data, dims }); } } };
  const session = {
    inputNames: ["x"],
    outputNames: ["y"],
    run: async ({ x }) => {
      const rows = x.dims[0];
      const out = new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) {
        let text = "";
        for (let step = 0; step < L; step++) {
          for (let v = 0; v < V; v++) if (x.data[(r * L + step) * V + v] === 1) text += vocabulary[v];
        }
        const row = logits[text];
        if (!row) throw new Error(`no logits for ${JSON.stringify(text)}`);
        out.set(row, r * n);
      }
      return { y: { data: out } };
    },
  };
  return new Classifier(ort, session, card, "verified");
}

const close = (a, b) => Math.abs(a - b) <= 1e-12;

function compare(got, want) {
  if (got.name !== want.name || got.label !== want.label || got.status !== want.status) return "label or status";
  if (got.unknown_chars !== want.unknown_chars || got.text !== want.text) return "text";
  if (JSON.stringify(Object.keys(got)) !== JSON.stringify(Object.keys(want))) return "fields";
  if ((got.confidence === null) !== (want.confidence === null)) return "confidence";
  if (want.confidence !== null && !close(got.confidence, want.confidence)) return "confidence";
  for (const [label, p] of Object.entries(want.probabilities)) if (!close(got.probabilities[label], p)) return "probabilities";
  if (want.top) {
    if (got.top.map(([l]) => l).join() !== want.top.map(([l]) => l).join()) return "top order";
    if (!got.top.every(([, p], i) => close(p, want.top[i][1]))) return "top probabilities";
  }
  return null;
}

for (const model of models) {
  for (const call of model.calls) {
    const options = {
      topK: call.options.top_k ?? null,
      threshold: call.options.threshold ?? null,
      otherThreshold: call.options.other_threshold ?? null,
    };
    test(`${model.id} ${JSON.stringify(call.options)}: ${names.length} names answered as Python answers them`, async () => {
      const clf = tableClassifier(model.sidecar, model.logits);
      const got = await clf.predictMany(names, options);
      assert.equal(got.length, call.predictions.length);
      const bad = [];
      got.forEach((g, i) => {
        const why = compare(g, call.predictions[i]);
        if (why) bad.push(`${JSON.stringify(g.name)} (${why}): js ${JSON.stringify(g)}\n  python ${JSON.stringify(call.predictions[i])}`);
      });
      expectNone(bad, "predictions");
    });
  }
}

test("the vectors exercise every decision path", () => {
  const answers = new Set();
  for (const model of models) {
    const other = model.sidecar.decision?.other_label;
    for (const call of model.calls) {
      for (const p of call.predictions) {
        if (p.label === other) answers.add(`other:${model.id}`);
        if (p.label === "unknown") answers.add("unknown");
        if (p.top) answers.add("top");
      }
    }
  }
  for (const id of ["italian-as-other", "open-set", "open-set-no-letters"]) assert.ok(answers.has(`other:${id}`), id);
  assert.ok(answers.has("unknown") && answers.has("top"));
});

test("bad decision entries fail with the runtime's message", () => {
  for (const { decision, message } of bad) {
    assert.throws(() => decisionFromJSON(decision, ["German", "Italian"]), (err) => err.message === message,
      `${JSON.stringify(decision)} should fail with: ${message}`);
  }
});

test("options are checked as the runtime checks them", () => {
  const open = readSidecar(models.find((m) => m.id === "open-set").sidecar);
  const closed = readSidecar(models.find((m) => m.id === "two-labels").sidecar);
  assert.throws(() => checkOptions(closed, { otherThreshold: 0.5 }), /needs a model with a background label/);
  assert.throws(() => checkOptions(open, { otherThreshold: 1.5 }), /other_threshold must be between 0 and 1, not 1.5/);
  assert.throws(() => checkOptions(open, { topK: 4 }), /top_k must be between 1 and 3 \(the number of labels\), not 4/);
  assert.throws(() => checkOptions(open, { threshold: -1 }), /threshold must be between 0 and 1/);
  checkOptions(open, { topK: 3, threshold: 0, otherThreshold: 1 });
});

test("\\p{L} is str.isalpha() and toLowerCase() is str.lower() on every code point Python assigns", () => {
  const alpha = new Set(inRanges(letters.alpha_ranges));
  const lower = new Map(letters.lower);
  const bad = [];
  let checked = 0;
  for (const cp of inRanges(letters.assigned_ranges)) {
    const c = chr(cp);
    checked++;
    if (/\p{L}/u.test(c) !== alpha.has(cp)) bad.push(`U+${cp.toString(16)} letter: js ${/\p{L}/u.test(c)}`);
    const want = lower.get(cp) ?? c;
    if (c.toLowerCase() !== want) bad.push(`U+${cp.toString(16)} lower: js ${JSON.stringify(c.toLowerCase())} python ${JSON.stringify(want)}`);
  }
  expectNone(bad, "code points");
  assert.ok(checked > 280000, `only ${checked} code points compared`);
});

test("foreign letters: every code point Python assigns, alone, is foreign exactly when Python says so", () => {
  const vocabulary = new Set(letters.vocabulary);
  const alpha = new Set(inRanges(letters.alpha_ranges));
  const known = new Set(letters.known_letters);
  const bad = [];
  for (const cp of inRanges(letters.assigned_ranges)) {
    const want = alpha.has(cp) && !known.has(cp);
    if ((foreignLetters(chr(cp), vocabulary) !== "") !== want) bad.push(`U+${cp.toString(16)} python foreign=${want}`);
  }
  expectNone(bad, "code points");
  // The cases the rule is about (the model's vocabulary holds ü and ß, not ł, í, ı, ễ).
  assert.equal(foreignLetters("ÜẞÄ", vocabulary), "");
  assert.equal(foreignLetters("ŁíıễİΣ王", vocabulary), "ŁíıễİΣ王");
  assert.equal(foreignLetters("’-1\u0301😀", vocabulary), "");
});
