/**
 * Labels for training the scorer and for the evaluation traffic: ordinary labels, and
 * machine-generated ones from five DGA generator families (written for this project,
 * modelled on published families: hash-hex like Bamital/Cryptolocker, random letters
 * like Ramnit/Murofet, consonant-vowel pronounceable like Virut/Pykspa, dictionary-word
 * concatenation like Suppobox/Matsnu, base32 like Necurs-style encodings).
 */
import { ROMAJI } from './romaji.ts';
import { DOMAIN_TOKENS } from './tokens.ts';
import type { Rng } from '../../../core/index.ts';

export const ROMAJI_WORDS = ROMAJI.split(/\s+/).filter(Boolean);
export const TOKENS = DOMAIN_TOKENS.split(/\s+/).filter(Boolean);

export const DGA_FAMILIES = ['hex', 'letters', 'pronounceable', 'dictionary', 'base32'] as const;
export type DgaFamily = (typeof DGA_FAMILIES)[number];

const HEX = '0123456789abcdef';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
const CONS = 'bcdfghjklmnprstvwxz';
const VOW = 'aeiou';

function randomString(rng: Rng, alphabet: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

/** One generated label of a family. `words` feeds the dictionary family. */
export function dgaLabel(rng: Rng, family: DgaFamily, words: readonly string[]): string {
  switch (family) {
    case 'hex':
      return randomString(rng, HEX, rng.range(12, 32));
    case 'letters':
      return rng.chance(0.7) ? randomString(rng, LETTERS, rng.range(8, 16)) : randomString(rng, ALNUM, rng.range(8, 16));
    case 'pronounceable': {
      let s = '';
      const n = rng.range(3, 6);
      for (let i = 0; i < n; i++) s += CONS[rng.int(CONS.length)]! + VOW[rng.int(VOW.length)]!;
      return rng.chance(0.3) ? s + CONS[rng.int(CONS.length)]! : s;
    }
    case 'dictionary': {
      const n = rng.chance(0.7) ? 2 : 3;
      let s = '';
      for (let i = 0; i < n; i++) s += rng.pick(words);
      return s.slice(0, 40);
    }
    case 'base32':
      return randomString(rng, B32, rng.range(16, 26));
  }
}

export const DGA_TLDS = ['com', 'net', 'org', 'info', 'biz', 'ru', 'top', 'xyz', 'cc', 'in', 'online', 'su'];

/** An ordinary registrable label: words, romaji, tokens, their compounds, digits, acronyms. */
export function benignLabel(rng: Rng, words: readonly string[]): string {
  const r = rng.next();
  if (r < 0.3) return rng.pick(words);
  if (r < 0.5) return rng.pick(words) + (rng.chance(0.2) ? '-' : '') + rng.pick(words);
  if (r < 0.62) return rng.pick(ROMAJI_WORDS);
  if (r < 0.7) return rng.pick(ROMAJI_WORDS) + (rng.chance(0.3) ? '-' : '') + rng.pick(rng.chance(0.5) ? ROMAJI_WORDS : words);
  if (r < 0.78) return rng.pick(words) + String(rng.range(1, rng.chance(0.5) ? 99 : 2030));
  if (r < 0.84) return rng.pick(TOKENS) + rng.pick(words);
  if (r < 0.92) return randomString(rng, LETTERS, rng.range(2, 4)); // acronyms: nhk, kddi, ntt
  if (r < 0.96) return randomString(rng, LETTERS, rng.range(2, 3)) + '-' + rng.pick(words);
  return rng.pick(words) + rng.pick(TOKENS);
}

export const BENIGN_TLDS = ['com', 'com', 'com', 'net', 'org', 'jp', 'co.jp', 'co.jp', 'ne.jp', 'or.jp', 'io', 'info', 'tokyo', 'co.uk', 'de'];
