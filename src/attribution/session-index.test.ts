import { after, before } from 'node:test';
import { startPostgres, type PostgresPeer } from '../../test/peers/postgres.ts';
import { openStore } from '../store/index.ts';
import { sessionIndexContract } from './index-contract.ts';

sessionIndexContract('sqlite', () => openStore('sqlite::memory:'));

// No skip when PostgreSQL is missing: startPostgres throws and every test fails, saying why.
let pg: PostgresPeer | undefined;
const started = startPostgres().then((p) => (pg = p));
before(() => started);
after(() => pg?.stop());
sessionIndexContract('postgres', async () => openStore(await (await started).createDatabase()));
