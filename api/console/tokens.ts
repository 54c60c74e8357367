/**
 * Console auth tokens (Nova's ConsoleAuthToken): a random token handed out
 * once in a console URL, stored only as its SHA-256, bound to one instance
 * and its project, valid for [console] token_ttl seconds and for one
 * connection: the first websocket that presents it consumes it.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Database } from '../db/connection';
import { getInstance } from '../db/instances';

export interface ConsoleConnectInfo {
  host: string;
  port: number;
  internal_access_path: string | null;
}

export interface ConsoleToken extends ConsoleConnectInfo {
  instance_uuid: string;
  project_id: string;
  console_type: string;
}

/** Why a token opens nothing, with the HTTP status the websocket upgrade is refused with. */
export class TokenRefused extends Error {
  constructor(
    readonly status: 401 | 403 | 404,
    readonly reason: 'unknown' | 'expired' | 'used' | 'other-instance' | 'instance-gone',
    message: string,
  ) {
    super(message);
  }
}

interface TokenRow extends ConsoleToken {
  token_hash: string;
  expires_ms: number | string;
  consumed: boolean | number;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

export class ConsoleTokens {
  constructor(
    private readonly db: Database,
    private readonly ttlSeconds: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** A new token for `t`; expired rows are swept on the way. */
  async issue(t: ConsoleToken): Promise<string> {
    const token = randomUUID();
    const now = this.clock();
    await this.db('console_auth_tokens').where('expires_ms', '<=', now).delete();
    await this.db('console_auth_tokens').insert({
      ...t,
      token_hash: hashOf(token),
      expires_ms: now + this.ttlSeconds * 1000,
      consumed: false,
    });
    return token;
  }

  /**
   * The token's console, marked used in the same conditional update that
   * checks it, so two websockets racing with one token cannot both win.
   * With `instanceUuid`, a token of another instance is refused.
   */
  async consume(token: string, instanceUuid?: string): Promise<ConsoleToken> {
    const hash = hashOf(token);
    const won = await this.db('console_auth_tokens')
      .where({ token_hash: hash, consumed: false })
      .where('expires_ms', '>', this.clock())
      .modify((q) => {
        if (instanceUuid !== undefined) void q.where({ instance_uuid: instanceUuid });
      })
      .update({ consumed: true });
    const row = await this.row(hash);
    if (!won) throw this.refusal(row, instanceUuid);
    return this.live(row!);
  }

  /** The token's console without using it (os-console-auth-tokens); refused as consume would. */
  async show(token: string): Promise<ConsoleToken> {
    const row = await this.row(hashOf(token));
    if (!row || Boolean(row.consumed) || Number(row.expires_ms) <= this.clock())
      throw this.refusal(row);
    return this.live(row);
  }

  /** Every token of the instance dies with it. */
  async revoke(instanceUuid: string): Promise<void> {
    await this.db('console_auth_tokens').where({ instance_uuid: instanceUuid }).delete();
  }

  private row(hash: string): Promise<TokenRow | undefined> {
    return this.db<TokenRow>('console_auth_tokens').where({ token_hash: hash }).first();
  }

  /** The row's console while its instance still exists in the token's project. */
  private async live(row: TokenRow): Promise<ConsoleToken> {
    const inst = await getInstance(this.db, row.instance_uuid);
    if (!inst || inst.project_id !== row.project_id) {
      await this.revoke(row.instance_uuid);
      throw new TokenRefused(
        404,
        'instance-gone',
        `the token's instance ${row.instance_uuid} no longer exists in project ${row.project_id}`,
      );
    }
    return {
      instance_uuid: row.instance_uuid,
      project_id: row.project_id,
      console_type: row.console_type,
      host: row.host,
      port: Number(row.port),
      internal_access_path: row.internal_access_path,
    };
  }

  private refusal(row: TokenRow | undefined, instanceUuid?: string): TokenRefused {
    if (!row) return new TokenRefused(404, 'unknown', 'the console token is not known');
    if (row.consumed)
      return new TokenRefused(403, 'used', 'the console token has already been used');
    if (Number(row.expires_ms) <= this.clock())
      return new TokenRefused(401, 'expired', 'the console token has expired');
    return new TokenRefused(
      403,
      'other-instance',
      `the console token belongs to instance ${row.instance_uuid}, not ${instanceUuid}`,
    );
  }
}
