import { FakeImageService } from './fake-image-service';
import { imageServiceConformance } from './image-service-conformance';

imageServiceConformance('FakeImageService', async () => ({
  service: new FakeImageService(),
  cleanup: async () => {},
}));
