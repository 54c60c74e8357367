/**
 * Key pairs, which belong to a user (not a project): rows, and the key
 * material Nova accepts — OpenSSH public keys checked structurally and
 * fingerprinted as MD5 of the key blob, X.509 certificates fingerprinted
 * as SHA-1, and generated RSA pairs.
 */
import { execFile } from 'node:child_process';
import { createHash, generateKeyPair, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { badRequest, conflictingRequest, itemNotFound } from '../faults';
import type { Database } from './connection';

export type KeypairType = 'ssh' | 'x509';

export interface KeypairRow {
  id: number;
  name: string;
  user_id: string;
  project_id: string;
  fingerprint: string;
  public_key: string;
  type: KeypairType;
  created_at: string;
  updated_at: string | null;
}

export const invalidKeypair = (reason: string) => badRequest(`Keypair data is invalid: ${reason}`);

export const keypairNotFound = (name: string, userId: string) =>
  itemNotFound(`Keypair ${name} not found for user ${userId}`);

export async function getKeypair(
  db: Database,
  userId: string,
  name: string,
): Promise<KeypairRow | undefined> {
  return db<KeypairRow>('key_pairs').where({ user_id: userId, name }).first();
}

/** A user's key pairs by name, after `marker` (a name) when given. */
export async function listKeypairs(
  db: Database,
  userId: string,
  o: { limit?: number; marker?: string } = {},
): Promise<KeypairRow[]> {
  const q = db<KeypairRow>('key_pairs').where({ user_id: userId }).orderBy('name');
  if (o.marker !== undefined) {
    if (!(await getKeypair(db, userId, o.marker)))
      throw badRequest(`Marker ${o.marker} could not be found.`);
    q.where('name', '>', o.marker);
  }
  if (o.limit !== undefined) q.limit(o.limit);
  return q;
}

export async function insertKeypair(
  db: Database,
  k: Omit<KeypairRow, 'id' | 'created_at' | 'updated_at'>,
): Promise<KeypairRow> {
  const t = new Date().toISOString();
  try {
    await db('key_pairs').insert({ ...k, created_at: t, updated_at: null });
  } catch (err) {
    if (/unique|duplicate/i.test(String((err as Error).message)))
      throw conflictingRequest(`Key pair '${k.name}' already exists.`);
    throw err;
  }
  return (await getKeypair(db, k.user_id, k.name))!;
}

export async function deleteKeypair(db: Database, userId: string, name: string): Promise<void> {
  const n = await db('key_pairs').where({ user_id: userId, name }).delete();
  if (!n) throw keypairNotFound(name, userId);
}

const colonHex = (digest: Buffer) => digest.toString('hex').replace(/(..)(?!$)/g, '$1:');

/** A reader of the SSH wire format's length-prefixed strings (RFC 4251). */
class SshReader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer {
    if (this.at + 4 > this.buf.length) throw new Error('truncated');
    const n = this.buf.readUInt32BE(this.at);
    if (this.at + 4 + n > this.buf.length) throw new Error('truncated');
    const s = this.buf.subarray(this.at + 4, this.at + 4 + n);
    this.at += 4 + n;
    return s;
  }
  done(): boolean {
    return this.at === this.buf.length;
  }
}

const ECDSA_POINT_BYTES: Record<string, number> = { nistp256: 65, nistp384: 97, nistp521: 133 };

/** Whether the blob is a well-formed key of the type it names. */
function wellFormedBlob(type: string, blob: Buffer): boolean {
  const r = new SshReader(blob);
  if (r.string().toString('latin1') !== type) return false;
  if (type === 'ssh-rsa') {
    const e = r.string();
    const n = r.string();
    if (e.length === 0 || n.length < 64) return false;
  } else if (type === 'ssh-dss') {
    for (let i = 0; i < 4; i++) if (r.string().length === 0) return false;
  } else if (type === 'ssh-ed25519') {
    if (r.string().length !== 32) return false;
  } else if (type.startsWith('ecdsa-sha2-')) {
    const curve = type.slice('ecdsa-sha2-'.length);
    if (r.string().toString('latin1') !== curve) return false;
    const point = r.string();
    if (point.length !== ECDSA_POINT_BYTES[curve] || point[0] !== 4) return false;
  } else {
    return false;
  }
  return r.done();
}

/**
 * The fingerprint of an OpenSSH public key line ("ssh-rsa AAAA… comment"):
 * MD5 of the decoded blob in colon-separated hex, as Nova computes it.
 * Throws Nova's 400 for anything that is not a well-formed key.
 */
export function sshFingerprint(publicKey: string): string {
  const parts = publicKey.trim().split(/\s+/);
  const [type, b64] = parts;
  const invalid = () => invalidKeypair('failed to generate fingerprint');
  if (parts.length < 2 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0)
    throw invalid();
  const blob = Buffer.from(b64, 'base64');
  try {
    if (!wellFormedBlob(type, blob)) throw invalid();
  } catch {
    throw invalid();
  }
  return colonHex(createHash('md5').update(blob).digest());
}

/** SHA-1 of a PEM certificate's DER, in lower-case colon hex, as Nova's x509 keypairs. */
export function x509Fingerprint(pem: string): string {
  try {
    return colonHex(createHash('sha1').update(new X509Certificate(pem).raw).digest());
  } catch (err) {
    throw invalidKeypair(
      `failed to generate X509 fingerprint. Error message: ${(err as Error).message}`,
    );
  }
}

/** An SSH mpint: big-endian, with a leading zero byte when the top bit is set. */
function mpint(bytes: Buffer): Buffer {
  const body = bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function sshString(s: string): Buffer {
  const body = Buffer.from(s, 'latin1');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

const generateRsa = promisify(generateKeyPair);

/**
 * A new 2048-bit RSA pair, as Nova makes one: the private key as
 * traditional PEM ("BEGIN RSA PRIVATE KEY"), the public key as an
 * OpenSSH line ending in "Generated-by-Nova", and its fingerprint.
 */
export async function generateSshKeypair(): Promise<{
  privateKey: string;
  publicKey: string;
  fingerprint: string;
}> {
  const { publicKey, privateKey } = await generateRsa('rsa', {
    modulusLength: 2048,
    publicExponent: 0x10001,
  });
  const jwk = publicKey.export({ format: 'jwk' });
  const blob = Buffer.concat([
    sshString('ssh-rsa'),
    mpint(Buffer.from(jwk.e!, 'base64url')),
    mpint(Buffer.from(jwk.n!, 'base64url')),
  ]);
  const line = `ssh-rsa ${blob.toString('base64')} Generated-by-Nova`;
  return {
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKey: line,
    fingerprint: sshFingerprint(line),
  };
}

const run = promisify(execFile);

/** A Distinguished Name value for openssl's -subj, whose own separators are escaped. */
const subjectValue = (s: string) => s.replace(/[\\/+=,]/g, (c) => `\\${c}`);

/**
 * A new self-signed X.509 certificate for WinRM logins, as Nova makes one
 * (nova.crypto.generate_winrm_x509_cert, which also runs openssl): a 2048-bit
 * RSA key, CN the user, ten years, client auth, the user@localhost UPN; the private half is
 * a base64 PKCS#12 bundle with an empty password, the public one the PEM.
 */
export async function generateX509Keypair(userId: string): Promise<{
  privateKey: string;
  publicKey: string;
  fingerprint: string;
}> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'berth-x509-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    // openssl's extension syntax has its own separators: a UPN only for a plain user id.
    const upn = /^[\w.@-]+$/.test(userId)
      ? ['-addext', `subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:${userId}@localhost`]
      : [];
    await run('openssl', [
      ...['req', '-x509', '-nodes', '-days', '3650', '-newkey', 'rsa:2048'],
      ...['-keyout', key, '-out', cert, '-subj', `/CN=${subjectValue(userId)}`],
      ...['-addext', 'extendedKeyUsage=clientAuth', ...upn],
    ]);
    const p12 = await run(
      'openssl',
      ['pkcs12', '-export', '-inkey', key, '-in', cert, '-password', 'pass:'],
      { encoding: 'buffer' },
    );
    const publicKey = await fs.promises.readFile(cert, 'utf8');
    return {
      privateKey: p12.stdout.toString('base64'),
      publicKey,
      fingerprint: x509Fingerprint(publicKey),
    };
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}
