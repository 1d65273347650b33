// The nameort encoder in JavaScript: names -> the model's one-hot input.
//
// A line-by-line mirror of runtime/nameort/encoding.py (the one encoder the
// model was trained with). tests/web_vectors.py generates vectors with the Python
// runtime and web/test/encoder.test.mjs checks this file against them, so any
// drift between the two fails the test suite.
//
// Python semantics that JavaScript does not give for free, and how they are met:
// - Characters are code points, not UTF-16 units: strings are split with
//   Array.from / for..of, never indexed or measured with .length.
// - str.strip() strips Python's whitespace (str.isspace), which is not the set
//   String.prototype.trim() strips: Python also strips U+001C..U+001F and U+0085,
//   and does not strip U+FEFF. PY_WHITESPACE is Python's set, checked against
//   every code point by the tests.
// - unicodedata.combining(c) != 0 is "canonical combining class is not 0".
//   JavaScript exposes no combining class, and \p{M} is a different set (many
//   marks, e.g. U+0903, have class 0). isCombining() reads the class through
//   canonical reordering instead; see there.

export const OK = "ok";
export const EMPTY = "empty";
export const UNSUPPORTED = "unsupported";
export const UNKNOWN_CHARS = "unknown_chars";
export const TRUNCATED = "truncated";
export const LOW_CONFIDENCE = "low_confidence";

// encoding.DEFAULT_EQUIVALENTS: used when a sidecar has no "equivalents" entry.
export const DEFAULT_EQUIVALENTS = Object.freeze({
  "\u2019": "'",
  "\u2018": "'",
  "\u02bc": "'",
  "\u00b4": "'",
  "`": "'",
  "\u00a0": " ",
  "\u2007": " ",
  "\u202f": " ",
  "-": " ",
  "\u2010": "- ",
  "\u2011": "- ",
  "\u2013": "- ",
});

const NORMAL_FORMS = ["NFC", "NFKC", "NFD", "NFKD"];

// Every code point for which Python's str.isspace() is true (what str.strip() removes).
export const PY_WHITESPACE = new Set([
  "\t", "\n", "\v", "\f", "\r", "\x1c", "\x1d", "\x1e", "\x1f", " ", "\x85", "\xa0",
  "\u1680", "\u2000", "\u2001", "\u2002", "\u2003", "\u2004", "\u2005", "\u2006",
  "\u2007", "\u2008", "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000",
]);

/** Python's str.strip() with no argument. (All of PY_WHITESPACE is in the BMP.) */
export function pyStrip(text) {
  let start = 0;
  let end = text.length;
  while (start < end && PY_WHITESPACE.has(text[start])) start++;
  while (end > start && PY_WHITESPACE.has(text[end - 1])) end--;
  return text.slice(start, end);
}

/**
 * unicodedata.combining(c) != 0, for a code point c that NFD leaves unchanged.
 *
 * U+0345 has the highest canonical combining class (240). NFD sorts adjacent
 * marks by class, so "\u0345" + c changes under NFD exactly when c's class is
 * between 1 and 239; U+0345 itself is the one code point of class 240. Every
 * character this is asked about comes out of an NFD decomposition, so it has
 * no decomposition of its own that could change the string instead.
 */
export function isCombining(c) {
  if (c === "\u0345") return true;
  const probe = "\u0345" + c;
  return probe.normalize("NFD") !== probe;
}

// Python's bool() of a JSON value.
function pyTruthy(value) {
  if (Array.isArray(value)) return value.length > 0;
  if (value !== null && typeof value === "object") return Object.keys(value).length > 0;
  return Boolean(value);
}

/**
 * EncodingRules.from_json + __post_init__: the sidecar's "encoding" object,
 * checked. Throws an Error with a one-line message when it is unusable.
 */
export function rulesFromJSON(data) {
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new Error("the sidecar's encoding entry is not an object");
  }
  if (!("characters" in data) || !("sequence_length" in data)) {
    throw new Error("the sidecar's encoding entry lacks characters or sequence_length");
  }
  let characters;
  if (typeof data.characters === "string") characters = data.characters;
  else if (Array.isArray(data.characters) && data.characters.every((c) => typeof c === "string")) {
    characters = data.characters.join("");
  } else throw new Error("the sidecar's encoding.characters is not a list of characters");
  const vocabulary = Array.from(characters);
  if (new Set(vocabulary).size !== vocabulary.length) throw new Error("vocabulary characters must be unique");

  const sequenceLength = Math.trunc(Number(data.sequence_length));
  if (!Number.isFinite(sequenceLength)) throw new Error("sequence_length is not a number");
  if (sequenceLength < 1) throw new Error("sequence_length must be at least 1");

  const normalization = "normalization" in data ? data.normalization : "NFC";
  if (!NORMAL_FORMS.includes(normalization)) throw new Error(`unknown normalization ${JSON.stringify(normalization)}`);

  const equivalents = "equivalents" in data ? data.equivalents : DEFAULT_EQUIVALENTS;
  if (equivalents === null || typeof equivalents !== "object" || Array.isArray(equivalents)) {
    throw new Error("the sidecar's encoding.equivalents is not an object");
  }
  return {
    characters: vocabulary,
    sequenceLength,
    normalization,
    stripWhitespace: "strip_whitespace" in data ? pyTruthy(data.strip_whitespace) : true,
    equivalents: new Map(Object.entries(equivalents)),
    foldAccents: "fold_accents" in data ? pyTruthy(data.fold_accents) : true,
    // Absent in sidecars written before rule 1b existed: those models skip it, as in Python.
    titleSingleCase: "title_single_case" in data ? pyTruthy(data.title_single_case) : false,
  };
}

export function statusString(flags) {
  return flags.length ? flags.join("+") : OK;
}

/** encoding.has_case: a character with a capital and a small form (mapped on its own, no context). */
export function hasCase(ch) {
  return ch.toLowerCase() !== ch.toUpperCase();
}

// encoding.MIN_CAPITALS, MIN_SMALL: letters with case a one-case name needs (rule 1b).
export const MIN_CAPITALS = 2;
export const MIN_SMALL = 3;
// encoding.ONE_CASE_SPAN: rule 1b only for names of at most this many times the sequence length.
export const ONE_CASE_SPAN = 4;

/** encoding.single_case: at least two letters with case, all capitals, or at least three, all small. */
export function singleCase(text) {
  let capitals = 0;
  let smalls = 0;
  for (const ch of text) {
    if (!hasCase(ch)) continue;
    if (ch === ch.toUpperCase()) capitals++;
    else if (ch === ch.toLowerCase()) smalls++;
    else return false; // a title-case digraph: mixed case
    if (capitals && smalls) return false;
  }
  return capitals >= MIN_CAPITALS || smalls >= MIN_SMALL;
}

/** encoding.title_single_case (rule 1b): ROSSI, rossi -> Rossi; O'BRIEN -> O'Brien; other spellings kept. */
export function titleSingleCase(text, normalization = "NFC") {
  if (!singleCase(text)) return text;
  let out = "";
  let previousCased = false;
  for (const ch of text) {
    const cased = hasCase(ch);
    out += cased ? (previousCased ? ch.toLowerCase() : ch.toUpperCase()) : ch;
    previousCased = cased;
  }
  return out.normalize(normalization);
}

/** Applies the rules of one model; mirrors encoding.Encoder. */
export class Encoder {
  constructor(rules) {
    this.rules = rules;
    this.index = new Map(rules.characters.map((ch, i) => [ch, i]));
  }

  get vocabSize() {
    return this.rules.characters.length;
  }

  /**
   * Encoder.prepare: {name, text, flags, unknown, status, usable}.
   * `text` is what the model reads; `unknown` the characters outside the
   * vocabulary, in order of first appearance.
   */
  prepare(name) {
    if (typeof name !== "string") throw new TypeError(`a name must be a string, not ${typeof name}`);
    let text = name.normalize(this.rules.normalization);
    if (this.rules.stripWhitespace) text = pyStrip(text);
    if (text === "") return prepared(name, "", [EMPTY], "");
    if (this.rules.titleSingleCase && Array.from(text).length <= ONE_CASE_SPAN * this.rules.sequenceLength) {
      text = titleSingleCase(text, this.rules.normalization);
    }
    const flags = [];
    let unknown = "";
    let chars = Array.from(text);
    if (!chars.every((ch) => this.index.has(ch))) {
      const seen = new Set();
      const kept = [];
      for (const ch of chars) {
        if (this.index.has(ch)) {
          kept.push(ch);
          continue;
        }
        if (!seen.has(ch)) {
          seen.add(ch);
          unknown += ch;
        }
        kept.push(this.substitute(ch));
      }
      chars = Array.from(kept.join(""));
      flags.push(UNKNOWN_CHARS);
      if (chars.length === 0) return prepared(name, "", [UNSUPPORTED], unknown);
    }
    if (chars.length > this.rules.sequenceLength) {
      chars = chars.slice(0, this.rules.sequenceLength);
      flags.push(TRUNCATED);
    }
    return prepared(name, chars.join(""), flags, unknown);
  }

  /** The known character(s) standing in for the unknown `ch`, or "" to drop it. */
  substitute(ch) {
    const candidates = this.rules.equivalents.get(ch);
    if (candidates !== undefined) {
      // Python iterates a string by code point and a list by element.
      const list = typeof candidates === "string" ? Array.from(candidates) : Array.isArray(candidates) ? candidates : [];
      for (const candidate of list) {
        if (typeof candidate === "string" && this.index.has(candidate)) return candidate;
      }
    }
    if (this.rules.foldAccents) {
      const base = Array.from(ch.normalize("NFD")).filter((c) => !isCombining(c));
      if (base.length > 0 && base.every((c) => this.index.has(c))) return base.join("");
    }
    return "";
  }

  /** Encoder.one_hot: Float32Array [texts.length, sequenceLength, vocab], zeros after each text. */
  oneHot(texts) {
    const L = this.rules.sequenceLength;
    const V = this.vocabSize;
    const batch = new Float32Array(texts.length * L * V);
    texts.forEach((text, row) => {
      let step = 0;
      for (const ch of text) {
        const column = this.index.get(ch);
        if (column === undefined || step >= L) {
          throw new Error(`not a prepared text: ${JSON.stringify(text)}`);
        }
        batch[(row * L + step) * V + column] = 1;
        step++;
      }
    });
    return batch;
  }
}

function prepared(name, text, flags, unknown) {
  const usable = !flags.includes(EMPTY) && !flags.includes(UNSUPPORTED);
  return { name, text, flags, unknown, status: statusString(flags), usable };
}
