/**
 * The InstanceNetworkApi of a `berth api` that has no network service
 * wired in (the embedded Neutron, api/network, replaces it): servers may be
 * created with `networks: none` (or, before 2.37, no networks) and have no
 * ports; any network or port asked for is not found.
 */
import { NotFoundError } from '../../common/errors';
import type { Vif } from '../../nova/network-model';
import type {
  InstanceNetworkApi,
  RequestedNetwork,
  RequestedNetworks,
} from '../network/instance-network';

class NoSuchNetwork extends NotFoundError {
  readonly type: string;
  constructor(r: RequestedNetwork) {
    super(r.port ? `Port ${r.port} could not be found.` : `Network ${r.uuid} could not be found.`);
    this.type = r.port ? 'PortNotFound' : 'NetworkNotFound';
  }
}

function refuseAny(requested: RequestedNetworks | RequestedNetwork[]): void {
  if (requested === 'auto') throw new NoSuchNetwork({ uuid: 'auto' });
  if (requested !== 'none' && requested.length) throw new NoSuchNetwork(requested[0]);
}

export const withoutNetwork: InstanceNetworkApi = {
  validateRequested: async (_caller, requested) => refuseAny(requested),
  allocateForInstance: async (_caller, _owner, requested) => {
    refuseAny(requested);
    return [];
  },
  bindForHost: async () => [],
  deallocateForInstance: async () => undefined,
  attachInterface: async (_caller, _owner, requested): Promise<Vif> => {
    throw new NoSuchNetwork(requested);
  },
  detachInterface: async (_uuid, portId) => {
    throw new NoSuchNetwork({ port: portId });
  },
  networkInfo: async () => [],
  networkInfoFor: async (uuids) => new Map(uuids.map((uuid) => [uuid, []])),
};
