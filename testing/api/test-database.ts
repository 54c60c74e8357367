/**
 * Fresh, migrated databases for tests: in-memory SQLite, or a throwaway
 * PostgreSQL database created on the server BERTH_TEST_POSTGRES_URL names
 * (default: the local one, as role berth/berth that
 * scripts/ensure-postgresql.sh creates) and dropped afterwards.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { UnavailableError } from '../../common/errors';
import { openDatabase, type Database } from '../../api/db/connection';

export type TestDatabaseKind = 'sqlite' | 'postgresql';

export interface TestDatabase {
  db: Database;
  url: string;
  /** closes the connections and, for PostgreSQL, drops the database */
  drop(): Promise<void>;
}

/** A maintenance database on the server tests create their databases on. */
const ADMIN_URL =
  process.env.BERTH_TEST_POSTGRES_URL ?? 'postgresql://berth:berth@127.0.0.1:5432/postgres';

function redacted(url: string): string {
  return url.replace(/:[^:@/]*@/, ':***@');
}

function unreachable(reason: string): string {
  return `PostgreSQL not reachable at ${redacted(ADMIN_URL)} (${reason}); set BERTH_TEST_POSTGRES_URL to test against it`;
}

async function withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  // An unreachable server also emits 'error'; without a listener that would crash the test run.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new UnavailableError(unreachable((err as Error).message), { cause: err });
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let reachability: Promise<string | undefined> | undefined;

/** Why PostgreSQL tests must be skipped, or undefined when the server answers. */
export function postgresUnavailable(): Promise<string | undefined> {
  reachability ??= withAdmin(async () => undefined).catch((err: Error) => err.message);
  return reachability;
}

/** Connects as withAdmin does, in a child: prints why it could not, exits 1. */
const PROBE = `
const { Client } = require(${JSON.stringify(require.resolve('pg'))});
const client = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
client.on('error', () => undefined);
client.connect().then(
  () => client.end(),
  (err) => { process.stdout.write(err.message); process.exitCode = 1; },
);`;

let reachabilityNow: { why: string | undefined } | undefined;

/**
 * postgresUnavailable for callers that cannot wait: a test file deciding,
 * as it declares its suites, which to skip (node:test takes `skip` then).
 * Asked once per process.
 */
export function postgresUnavailableSync(): string | undefined {
  if (!reachabilityNow) {
    const r = spawnSync(process.execPath, ['-e', PROBE, ADMIN_URL], {
      encoding: 'utf8',
      timeout: 10000,
    });
    const why =
      r.status === 0 ? undefined : unreachable(r.stdout || r.error?.message || `probe ${r.signal}`);
    reachabilityNow = { why };
  }
  return reachabilityNow.why;
}

/** Opens a new empty database of `kind` with the schema applied; throws UnavailableError when PostgreSQL is unreachable. */
export async function withTestDatabase(kind: TestDatabaseKind): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const url = 'sqlite://';
    const db = await openDatabase(url);
    return { db, url, drop: () => db.destroy() };
  }
  const { url, drop } = await emptyPostgresDatabase();
  let db: Database;
  try {
    db = await openDatabase(url);
  } catch (err) {
    await drop();
    throw err;
  }
  return {
    db,
    url,
    async drop() {
      await db.destroy();
      await drop();
    },
  };
}

/**
 * A new PostgreSQL database with no schema yet (what the processes given
 * its URL migrate), and how to drop it, connections and all.
 */
export async function emptyPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `berth_test_${randomBytes(6).toString('hex')}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
