/**
 * Collections of Cinder's that berth has no way to fill: volume transfers
 * and generic volume groups. Horizon's volume list asks for both (the
 * transfers to mark volumes awaiting one, the groups to name a volume's
 * `group_id`) and shows "Unable to retrieve ..." when a call fails; an
 * empty list is the truth while berth offers no way to create one (a POST
 * stays a 404, as for any call berth lacks).
 */
import type { Router } from 'express';

const COLLECTIONS: [key: string, bases: string[]][] = [
  // The legacy extension's path and the 3.55 one.
  ['transfers', ['/os-volume-transfer', '/volume-transfers']],
  ['groups', ['/groups']],
];

export function mountEmptyCollections(r: Router): void {
  for (const [key, bases] of COLLECTIONS)
    for (const base of bases)
      for (const path of [base, `${base}/detail`])
        r.get(path, (_req, res) => {
          res.json({ [key]: [] });
        });
}
