import { FakeImageService } from './fake-image-service';
import { imageServiceConformance } from './conformance';

imageServiceConformance('FakeImageService', async () => ({
  service: new FakeImageService(),
  cleanup: async () => {},
}));
