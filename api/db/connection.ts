/**
 * The control plane's database: an embedded SQLite file by default,
 * PostgreSQL when `[database] connection` names one. Both are reached
 * through knex so that every query is written once.
 */
import fs from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import { InvalidArgumentError } from '../../common/errors';
import { migrate } from './migrations';

export type Database = Knex;

/** Knex settings for an SQLAlchemy-style URL (sqlite:////abs/path, sqlite://, postgresql://…). */
export function knexConfig(connection: string): Knex.Config {
  const sqlite = /^sqlite:\/\/(\/.*)?$/.exec(connection);
  if (sqlite) {
    // "sqlite://" with no path is SQLAlchemy's in-memory database.
    const file = sqlite[1] ? sqlite[1].replace(/^\/(?=\/)/, '') : ':memory:';
    return {
      client: 'better-sqlite3',
      connection: { filename: file },
      useNullAsDefault: true,
      // One connection: SQLite has one writer anyway, and a second
      // connection would only meet SQLITE_BUSY.
      pool: {
        min: 1,
        max: 1,
        afterCreate: (conn: { pragma(p: string): unknown }, done: (e: Error | null) => void) => {
          conn.pragma('journal_mode = WAL');
          conn.pragma('synchronous = NORMAL');
          conn.pragma('foreign_keys = ON');
          conn.pragma('busy_timeout = 5000');
          done(null);
        },
      },
    };
  }
  const pg = /^postgres(?:ql)?(?:\+\w+)?(:\/\/.*)$/.exec(connection);
  if (pg) return { client: 'pg', connection: `postgresql${pg[1]}`, pool: { min: 0, max: 10 } };
  throw new InvalidArgumentError(
    `[database] connection: unsupported URL ${JSON.stringify(connection.replace(/:[^:@/]*@/, ':***@'))}; expected sqlite:////path/to/file or postgresql://user:password@host/db`,
  );
}

/** Opens the database and brings its schema up to date. */
export async function openDatabase(connection: string): Promise<Database> {
  const config = knexConfig(connection);
  const file = (config.connection as { filename?: string }).filename;
  if (file && file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = knex(config);
  try {
    await exclusively(db, () => migrate(db));
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return db;
}

export function isPostgres(db: Database): boolean {
  return db.client.config.client === 'pg';
}

/** An arbitrary constant naming berth's lock among PostgreSQL's advisory locks. */
const STARTUP_LOCK = 0x62657274;

/**
 * Runs `fn` holding the database's startup lock: on PostgreSQL an advisory
 * lock, so that API processes started together migrate and seed one after
 * another rather than race (a process that dies holding it lets go with its
 * connection). SQLite has one process and one connection: `fn` just runs.
 */
export async function exclusively<T>(db: Database, fn: () => Promise<T>): Promise<T> {
  if (!isPostgres(db)) return fn();
  return db.transaction(async (trx) => {
    await trx.raw('SELECT pg_advisory_xact_lock(?)', [STARTUP_LOCK]);
    return fn();
  });
}
