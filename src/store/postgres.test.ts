import { after, before } from 'node:test';
import { startPostgres, type PostgresPeer } from '../../test/peers/postgres.ts';
import { storeContract } from './contract.ts';

// No skip when PostgreSQL is missing: startPostgres throws and every test fails, saying why.
let pg: PostgresPeer | undefined;
const started = startPostgres().then((p) => (pg = p));
before(() => started);
after(() => pg?.stop());

storeContract('postgres', async () => (await started).createDatabase());
