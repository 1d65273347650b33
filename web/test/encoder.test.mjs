// Encoder parity: web/encoder.js against vectors the Python runtime wrote.
//
// Run through pytest (tests/test_web.py), which generates the vectors and sets
// NAMEORT_WEB_VECTORS; by hand:
//   python -c "import sys; sys.path.insert(0, 'tests'); import web_vectors; web_vectors.write_vectors('/tmp/v.json')"
//   NAMEORT_WEB_VECTORS=/tmp/v.json node --test web/test/*.test.mjs

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { DEFAULT_EQUIVALENTS, Encoder, PY_WHITESPACE, isCombining, rulesFromJSON } from "../encoder.js";
import { softmax } from "../classifier.js";

const path = process.env.NAMEORT_WEB_VECTORS;
if (!path) {
  throw new Error("NAMEORT_WEB_VECTORS is not set: run these tests through `pytest tests/test_web.py`");
}
const vectors = JSON.parse(readFileSync(path, "utf8"));

const chr = (cp) => String.fromCodePoint(cp);
const show = (s) => JSON.stringify(s) + " [" + Array.from(s, (c) => "U+" + c.codePointAt(0).toString(16).toUpperCase()).join(" ") + "]";

function* inRanges(ranges) {
  for (const [first, last] of ranges) for (let cp = first; cp <= last; cp++) yield cp;
}

/** Collect every mismatch, then fail once with the first few: a drift is usually many cases at once. */
function expectNone(mismatches, what) {
  if (mismatches.length) {
    assert.fail(`${mismatches.length} ${what} differ from Python; first:\n` + mismatches.slice(0, 8).join("\n"));
  }
}

test("the vectors come from the Python runtime", () => {
  assert.equal(vectors.format, "nameort-web-encoder-vectors");
  assert.ok(vectors.rulesets.length >= 4);
});

test("default equivalents equal encoding.DEFAULT_EQUIVALENTS", () => {
  assert.deepEqual({ ...DEFAULT_EQUIVALENTS }, vectors.default_equivalents);
});

test("PY_WHITESPACE is exactly str.isspace() over every code point", () => {
  const python = new Set(vectors.whitespace);
  const bad = [];
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (PY_WHITESPACE.has(chr(cp)) !== python.has(cp)) bad.push(`U+${cp.toString(16)}`);
  }
  expectNone(bad, "whitespace code points");
});

test("isCombining is unicodedata.combining() != 0 on every NFD-stable code point both Unicode versions assign", () => {
  const python = new Set(vectors.combining);
  const bad = [];
  let checked = 0;
  for (const cp of inRanges(vectors.nfd_stable_ranges)) {
    const c = chr(cp);
    if (/\p{Cn}/u.test(c) || c.normalize("NFD") !== c) continue; // unassigned or decomposable here
    checked++;
    if (isCombining(c) !== python.has(cp)) bad.push(`U+${cp.toString(16)} python=${python.has(cp)}`);
  }
  expectNone(bad, "combining classes");
  assert.ok(checked > 250000, `only ${checked} code points compared`);
});

test("\\p{M} is not the combining test: it would differ from Python", () => {
  const python = new Set(vectors.combining);
  const differ = [...inRanges(vectors.nfd_stable_ranges)].filter((cp) => /\p{M}/u.test(chr(cp)) !== python.has(cp));
  assert.ok(differ.length > 100, "\\p{M} agrees with the combining class; the reordering test is no longer needed");
  assert.ok(differ.includes(0x0903), "U+0903 is a mark of combining class 0");
});

test("softmax equals classifier._softmax", () => {
  for (const { logits, probabilities } of vectors.softmax) {
    const got = softmax(Float32Array.from(logits));
    got.forEach((p, i) => assert.ok(Math.abs(p - probabilities[i]) <= 1e-12, `${logits} -> ${got} vs ${probabilities}`));
  }
});

for (const ruleset of vectors.rulesets) {
  const encoder = new Encoder(rulesFromJSON(ruleset.encoding));
  const L = encoder.rules.sequenceLength;
  const V = encoder.vocabSize;

  test(`${ruleset.id}: vocabulary and sequence length`, () => {
    assert.deepEqual(encoder.rules.characters, ruleset.vocabulary);
    assert.equal(L, ruleset.sequence_length);
  });

  test(`${ruleset.id}: ${ruleset.cases.length} names give Python's text, status, unknown characters and one-hot`, () => {
    const bad = [];
    const prepared = ruleset.cases.map((c) => encoder.prepare(c.name));
    const batch = encoder.oneHot(prepared.map((p) => p.text));
    ruleset.cases.forEach((c, row) => {
      const p = prepared[row];
      const hot = [];
      for (let k = 0; k < L * V; k++) {
        const v = batch[row * L * V + k];
        if (v === 1) hot.push(k);
        else if (v !== 0) hot.push(`${k}=${v}`);
      }
      const got = { text: p.text, status: p.status, unknown: p.unknown, onehot: hot };
      const want = { text: c.text, status: c.status, unknown: c.unknown, onehot: c.onehot };
      try {
        assert.deepEqual(got, want);
      } catch {
        bad.push(`${show(c.name)}: js ${JSON.stringify(got)} python ${JSON.stringify(want)}`);
      }
    });
    expectNone(bad, "names");
  });

  if (ruleset.codepoints) {
    test(`${ruleset.id}: every assigned code point alone gives Python's answer`, () => {
      const special = new Map(ruleset.codepoints.special.map(([cp, text, status, unknown]) => [cp, { text, status, unknown }]));
      const bad = [];
      let checked = 0;
      for (const cp of inRanges(ruleset.codepoints.domain)) {
        const c = chr(cp);
        if (/\p{Cn}/u.test(c)) continue;
        checked++;
        const want = special.get(cp) ?? { text: "", status: "unsupported", unknown: c };
        const p = encoder.prepare(c);
        if (p.text !== want.text || p.status !== want.status || p.unknown !== want.unknown) {
          bad.push(`${show(c)}: js ${JSON.stringify([p.text, p.status, p.unknown])} python ${JSON.stringify(want)}`);
        }
      }
      expectNone(bad, "code points");
      assert.ok(checked > 250000, `only ${checked} code points compared`);
    });
  }
}
