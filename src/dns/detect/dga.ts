/**
 * How machine-generated one domain label looks (DGA scorer), in [0, 1].
 *
 * Features of the label (the registrable label: "xjw3kq" in "a.xjw3kq.com"):
 *   0 surprisal   mean -log2 P(c_i | c_{i-1}) over "^label$" under a character bigram model of
 *                 ordinary labels (English words from Debian's wamerican, Japanese romaji,
 *                 common domain tokens; model/train.ts builds it, model-data.ts holds it)
 *   1 length      min(L, 40) / 10
 *   2 entropy     Shannon entropy of the label's characters, bits
 *   3 digits      share of digits
 *   4 consonants  longest run of consonants (letters other than a e i o u y), capped at 10
 *   5 vowels      share of a e i o u among letters
 *   6 switches    letter<->digit changes / L
 *   7 hex         1 when the label is 8+ hex characters with at least one digit
 *   8 surprisal x length   feature 0 * min(L, 20) / 20 (short labels say little)
 * score = sigmoid(b + sum w_i * (x_i - mean_i) / sd_i), weights fitted offline by logistic
 * regression on generated labels (model/train.ts), never at run time. The fitted values are
 * in model-data.ts and printed in README.md.
 *
 * scoreLabel() allocates nothing: the hot path may call it on NXDOMAIN names.
 */
import { BIGRAM_LOG2, MODEL } from './model/model-data.ts';

export const SYMBOLS = 40; // a-z, 0-9, '-', '_', other, boundary
const SYM = new Uint8Array(128).fill(38);
for (let c = 97; c <= 122; c++) SYM[c] = c - 97;
for (let c = 48; c <= 57; c++) SYM[c] = 26 + c - 48;
SYM[45] = 36;
SYM[95] = 37;
export const BOUNDARY = 39;

export function symbolOf(c: number): number {
  return c < 128 ? SYM[c]! : 38;
}

/** a e i o u */
function isVowel(c: number): boolean {
  return c === 97 || c === 101 || c === 105 || c === 111 || c === 117;
}

export const FEATURE_NAMES = ['surprisal', 'length', 'entropy', 'digits', 'consonantRun', 'vowels', 'switches', 'hex', 'surprisalXlength'] as const;
export const FEATURES = FEATURE_NAMES.length;

const COUNTS = new Uint8Array(SYMBOLS);
const TOUCHED = new Uint8Array(64);

/**
 * Writes the features of s[from, to) into `out` (length >= FEATURES) using the given bigram
 * table (log2 probabilities, SYMBOLS x SYMBOLS, row = previous symbol).
 */
export function labelFeatures(s: string, from: number, to: number, out: Float64Array, bigram: Float32Array = BIGRAM_LOG2): void {
  const L = Math.min(to - from, 63);
  to = from + L;
  let prev = BOUNDARY;
  let logp = 0;
  let digits = 0;
  let letters = 0;
  let vowels = 0;
  let run = 0;
  let maxRun = 0;
  let switches = 0;
  let hexOnly = true;
  let lastKind = 0; // 1 letter, 2 digit
  let distinct = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    const sym = symbolOf(c);
    logp += bigram[prev * SYMBOLS + sym]!;
    prev = sym;
    if (COUNTS[sym] === 0) TOUCHED[distinct++] = sym;
    COUNTS[sym]!++;
    let kind = 0;
    if (sym < 26) {
      letters++;
      kind = 1;
      if (isVowel(c)) {
        vowels++;
        run = 0;
      } else if (c !== 121 && ++run > maxRun) maxRun = run;
      if (sym > 5) hexOnly = false;
    } else if (sym < 36) {
      digits++;
      kind = 2;
      run = 0;
    } else {
      run = 0;
      hexOnly = false;
    }
    if (kind !== 0 && lastKind !== 0 && kind !== lastKind) switches++;
    if (kind !== 0) lastKind = kind;
  }
  logp += bigram[prev * SYMBOLS + BOUNDARY]!;
  let entropy = 0;
  for (let k = 0; k < distinct; k++) {
    const sym = TOUCHED[k]!;
    const p = COUNTS[sym]! / L;
    entropy -= p * Math.log2(p);
    COUNTS[sym] = 0;
  }
  const surprisal = L === 0 ? 0 : -logp / (L + 1);
  out[0] = surprisal;
  out[1] = L / 10;
  out[2] = entropy;
  out[3] = L === 0 ? 0 : digits / L;
  out[4] = Math.min(maxRun, 10);
  out[5] = letters === 0 ? 0 : vowels / letters;
  out[6] = L === 0 ? 0 : switches / L;
  out[7] = hexOnly && L >= 8 && digits > 0 ? 1 : 0;
  out[8] = (surprisal * Math.min(L, 20)) / 20;
}

const X = new Float64Array(FEATURES);
/** Score given to IDNA A-labels (xn--...), whatever their characters. */
export const IDN_SCORE = 0.1;

/** The DGA score of s[from, to) (default: the whole string), 0 = ordinary, 1 = generated. */
export function scoreLabel(s: string, from = 0, to = s.length): number {
  if (to - from < 1) return 0;
  // IDNA A-labels (RFC 5891) are encodings of ordinary words: "xn--eckwd4c7c" is not random.
  if (to - from > 4 && s.charCodeAt(from) === 120 && s.charCodeAt(from + 1) === 110 && s.charCodeAt(from + 2) === 45 && s.charCodeAt(from + 3) === 45) return IDN_SCORE;
  labelFeatures(s, from, to, X);
  const w = MODEL.weights;
  const mean = MODEL.mean;
  const sd = MODEL.sd;
  let z = MODEL.bias;
  for (let i = 0; i < FEATURES; i++) z += (w[i]! * (X[i]! - mean[i]!)) / sd[i]!;
  return 1 / (1 + Math.exp(-z));
}
