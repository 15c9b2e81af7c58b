import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SakimoriError } from '../core/index.ts';
import { parseStoreUrl, redactPassword } from './url.ts';

describe('parseStoreUrl', () => {
  it('reads SQLite paths, relative to the working directory', () => {
    assert.deepEqual(parseStoreUrl('sqlite:./data/sakimori.db', '/srv/sakimori'), {
      kind: 'sqlite',
      path: '/srv/sakimori/data/sakimori.db',
      displayUrl: 'sqlite:/srv/sakimori/data/sakimori.db',
    });
    assert.equal(parseStoreUrl('sqlite:/var/lib/s.db', '/x').kind, 'sqlite');
    assert.equal((parseStoreUrl('sqlite:/var/lib/s.db', '/x') as { path: string }).path, '/var/lib/s.db');
    assert.equal((parseStoreUrl('sqlite:///var/lib/s.db', '/x') as { path: string }).path, '/var/lib/s.db');
    assert.equal((parseStoreUrl('sqlite::memory:') as { path: string }).path, ':memory:');
  });

  it('reads PostgreSQL URLs, names the endpoint and hides the password', () => {
    const p = parseStoreUrl('postgres://sakimori:s3cr%40t@db.example.net:6432/isp?sslmode=require');
    assert.equal(p.kind, 'postgres');
    if (p.kind !== 'postgres') return;
    assert.equal(p.endpoint, 'db.example.net:6432');
    assert.equal(p.database, 'isp');
    assert.equal(p.user, 'sakimori');
    assert.equal(p.displayUrl, 'postgres://sakimori:***@db.example.net:6432/isp?sslmode=require');
    assert.equal(p.connectionString, 'postgres://sakimori:s3cr%40t@db.example.net:6432/isp?sslmode=require');

    const sock = parseStoreUrl('postgresql://sakimori@/sakimori?host=/run/postgresql');
    assert.equal(sock.kind === 'postgres' && sock.endpoint, 'unix socket /run/postgresql/.s.PGSQL.5432');
    const v6 = parseStoreUrl('postgres://u@[::1]:5433/d');
    assert.equal(v6.kind === 'postgres' && v6.endpoint, '[::1]:5433');
    const bare = parseStoreUrl('postgres://db/sakimori');
    assert.equal(bare.kind === 'postgres' && bare.endpoint, 'db:5432');
  });

  it('rejects other schemes with a message that says what works', () => {
    for (const bad of ['mysql://x', './data/sakimori.db', 'sqlite:', 'postgres://u@h:port/d', 'postgres:x']) {
      assert.throws(
        () => parseStoreUrl(bad),
        (e) => e instanceof SakimoriError && e.code === 'STORE_URL_INVALID' && e.message.includes('use sqlite:PATH or postgres://USER@HOST/DB'),
        bad,
      );
    }
    assert.throws(() => parseStoreUrl('mysql://x'), { message: "store.url 'mysql://x' is not supported: use sqlite:PATH or postgres://USER@HOST/DB" });
  });

  it('never shows a password in an error', () => {
    assert.throws(() => parseStoreUrl('mysql://root:hunter2@db/x'), (e) => e instanceof Error && !e.message.includes('hunter2'));
  });
});

describe('redactPassword', () => {
  it('hides user-info and query passwords, leaves the rest', () => {
    assert.equal(redactPassword('postgres://u:p@ss@h/d'), 'postgres://u:***@h/d');
    assert.equal(redactPassword('postgres://u@h:5432/d'), 'postgres://u@h:5432/d');
    assert.equal(redactPassword('postgres://h:5432/d?user=u&password=x&sslmode=require'), 'postgres://h:5432/d?user=u&password=***&sslmode=require');
  });
});
