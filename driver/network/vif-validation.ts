/** What plug and attach refuse before touching anything: vifs the data plane cannot wire. */
import { ConflictError, InvalidArgumentError } from '../../common/errors';
import type { Vif } from '../../nova/network-model';

export function validateVifs(vifs: readonly Vif[]): void {
  const ids = new Set<string>();
  for (const vif of vifs) {
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(vif.address ?? ''))
      throw new InvalidArgumentError(`port ${vif.id}: invalid MAC ${JSON.stringify(vif.address)}`);
    if (!Number.isInteger(vif.network?.meta?.vni) || !Number.isInteger(vif.network?.meta?.mtu))
      throw new InvalidArgumentError(`port ${vif.id}: network without vni or mtu`);
    if (ids.has(vif.id)) throw new ConflictError(`port ${vif.id} is given twice`);
    ids.add(vif.id);
  }
}
