/**
 * Reads sessions straight from a FreeRADIUS `radacct` table in PostgreSQL
 * (`--from postgres://... --table radacct`), in radacctid order, a page at
 * a time (keyset pagination on the primary key: constant cost per page,
 * however large the table). Bad rows are reported by radacctid.
 */
import pg from 'pg';
import { SakimoriError, errorMessage } from '../../core/index.ts';
import { redactPassword } from '../../store/index.ts';
import type { SessionIndex } from '../session-index.ts';
import { radacctRow } from './radacct.ts';
import { ImportRun, type ImportHooks, type ImportReport, type ImportRunOptions } from './run.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function quoteTable(table: string): string {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) {
    throw new SakimoriError('IMPORT_TABLE', `"${table}" is not a table name`, { hint: 'give a plain name such as radacct or freeradius.radacct' });
  }
  return parts.map((p) => `"${p}"`).join('.');
}

const ms = (col: string) => `(EXTRACT(EPOCH FROM ${col}) * 1000)::bigint AS ${col}`;

export async function importRadacctTable(index: SessionIndex, url: string, table: string, hooks: ImportHooks = {}, runOpts: ImportRunOptions = {}, pageSize = 20_000): Promise<ImportReport> {
  const t = quoteTable(table);
  const client = new pg.Client({ connectionString: url, application_name: 'sakimori-import' });
  try {
    await client.connect();
  } catch (err) {
    throw new SakimoriError('IMPORT_SOURCE', `cannot connect to ${redactPassword(url)}: ${errorMessage(err)}`, { hint: 'check the URL, that PostgreSQL runs there, and pg_hba.conf' });
  }
  try {
    const sql = `SELECT radacctid, acctsessionid, username, nasipaddress::text AS nasipaddress,
        ${ms('acctstarttime')}, ${ms('acctupdatetime')}, ${ms('acctstoptime')}, acctsessiontime,
        framedipaddress::text AS framedipaddress, framedipv6address::text AS framedipv6address,
        framedipv6prefix::text AS framedipv6prefix, delegatedipv6prefix::text AS delegatedipv6prefix
      FROM ${t} WHERE radacctid > $1 ORDER BY radacctid LIMIT $2`;
    let range: { lo: string | null; hi: string | null };
    try {
      range = (await client.query<{ lo: string | null; hi: string | null }>(`SELECT MIN(radacctid)::text AS lo, MAX(radacctid)::text AS hi FROM ${t}`)).rows[0]!;
      await client.query(`${sql.replace('LIMIT $2', 'LIMIT 0')}`, ['0']);
    } catch (err) {
      throw new SakimoriError('IMPORT_SOURCE', `${table} cannot be read as a FreeRADIUS radacct table: ${errorMessage(err)}`, {
        hint: 'the table needs the radacct columns of FreeRADIUS 3.x (raddb/mods-config/sql/main/postgresql/schema.sql)',
      });
    }
    const run = new ImportRun(index, table, 'radacct', hooks, runOpts);
    const lo = Number(range.lo ?? 0);
    const hi = Number(range.hi ?? 0);
    let after = range.lo === null ? '0' : String(BigInt(range.lo) - 1n);
    let rows = 0;
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    try {
      for (;;) {
        const page = await client.query(sql, [after, pageSize]);
        if (page.rows.length === 0) break;
        for (const r of page.rows as Array<Record<string, unknown>>) {
          rows++;
          radacctRow(
            {
              acctsessionid: String(r.acctsessionid ?? ''), username: String(r.username ?? ''), nasipaddress: String(r.nasipaddress ?? '').replace(/\/(32|128)$/, ''),
              acctstarttime: num(r.acctstarttime), acctupdatetime: num(r.acctupdatetime), acctstoptime: num(r.acctstoptime), acctsessiontime: num(r.acctsessiontime),
              framedipaddress: String(r.framedipaddress ?? ''), framedipv6address: String(r.framedipv6address ?? ''),
              framedipv6prefix: String(r.framedipv6prefix ?? ''), delegatedipv6prefix: String(r.delegatedipv6prefix ?? ''),
            },
            Number(r.radacctid),
            run.sink,
          );
        }
        after = String((page.rows[page.rows.length - 1] as { radacctid: string | number }).radacctid);
        await run.maybeFlush();
        hooks.onProgress?.(Number(after) - lo + 1, hi - lo + 1, run.sessions, run.badLines);
      }
      return await run.finish(rows);
    } catch (err) {
      await run.abort();
      throw err;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
