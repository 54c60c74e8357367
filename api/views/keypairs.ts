/** The os-keypairs resource as Nova's view builder shapes it (views/keypairs.py). */
import type { KeypairRow } from '../db/keypairs';
import type { Microversion } from '../microversion';
import { novaDateTime } from './services';

export function keypairBrief(k: KeypairRow, v: Microversion) {
  const view: Record<string, unknown> = {
    name: k.name,
    public_key: k.public_key,
    fingerprint: k.fingerprint,
  };
  if (v.ge('2.2')) view.type = k.type;
  return view;
}

export function keypairCreated(k: KeypairRow, v: Microversion, privateKey?: string) {
  const view: Record<string, unknown> = { ...keypairBrief(k, v), user_id: k.user_id };
  if (privateKey !== undefined) view.private_key = privateKey;
  return view;
}

/** Show carries Nova's soft-delete columns, which are never set. */
export function keypairDetail(k: KeypairRow, v: Microversion) {
  return {
    ...keypairCreated(k, v),
    created_at: novaDateTime(k.created_at),
    deleted: false,
    deleted_at: null,
    updated_at: null,
    id: k.id,
  };
}
