/**
 * Volume transfers, as far as berth has them: none. Horizon's volume list
 * asks for the project's transfers (`os-volume-transfer/detail`) to mark
 * volumes awaiting one, and shows "Unable to retrieve volume list" when the
 * call fails; an empty list is the truth while berth offers no way to
 * create a transfer (POST stays a 404, as for any call berth lacks).
 */
import type { Router } from 'express';

export function mountTransfers(r: Router): void {
  // The legacy extension's paths and the 3.55 ones, listed and in detail.
  for (const base of ['/os-volume-transfer', '/volume-transfers'])
    for (const path of [base, `${base}/detail`])
      r.get(path, (_req, res) => {
        res.json({ transfers: [] });
      });
}
