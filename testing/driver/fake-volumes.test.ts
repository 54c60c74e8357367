import { FakeVolumes } from './fake-volumes';
import { volumeServiceConformance } from './volume-service-conformance';

volumeServiceConformance('FakeVolumes', async () => ({
  service: new FakeVolumes(),
  cleanup: async () => {},
}));
