import { randomUUID } from 'node:crypto';

/** A uuid4 as 32 hex digits: oslo's form for _msg_id, _unique_id and queue suffixes. */
export function hexUuid(): string {
  return randomUUID().replace(/-/g, '');
}
