/** Finding a server the caller may see: another project's server is "not found". */
import type { ApiContext } from '../context';
import type { Database } from '../db/connection';
import { getInstance, getInstanceEvenDeleted, type Instance } from '../db/instances';
import { isUp, type ServiceRow } from '../db/services';
import { itemNotFound } from '../faults';

export async function findServer(
  db: Database,
  ctx: ApiContext,
  id: string,
  o: { readDeleted?: boolean } = {},
): Promise<Instance> {
  const inst = o.readDeleted ? await getInstanceEvenDeleted(db, id) : await getInstance(db, id);
  if (!inst || (inst.project_id !== ctx.projectId && !ctx.isAdmin))
    throw itemNotFound(`Instance ${id} could not be found.`);
  return inst;
}

/** 2.16 host_status for each host, read once per request. */
export async function hostStatusReader(db: Database, serviceDownTime: number) {
  const rows = await db<ServiceRow>('services').where({ binary: 'nova-compute' });
  const byHost = new Map(rows.map((s) => [s.host, s]));
  return (host: string | null) => {
    if (!host) return '';
    const s = byHost.get(host);
    if (!s) return 'UNKNOWN';
    if (!isUp(s, serviceDownTime)) return 'DOWN';
    return s.disabled ? 'MAINTENANCE' : 'UP';
  };
}
