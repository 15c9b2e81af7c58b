import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storeContract } from './contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'sakimori-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

// Files, not :memory:, so that two stores (and two processes) can share one database.
storeContract('sqlite', async () => `sqlite:${join(dir, `db-${++n}`, 'sakimori.db')}`);
