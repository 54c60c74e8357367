import { FakeNetwork } from './fake-network';
import { networkConformance } from './network-conformance';

networkConformance('FakeNetwork', async () => {
  const network = new FakeNetwork();
  return {
    network,
    interfaces: async (uuid) => network.interfaces(uuid),
    net: { id: 'fake-net', vni: 7, cidr: '10.9.0.0/24', gateway: '10.9.0.1' },
  };
});
