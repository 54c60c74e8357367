/** `berth compute --config FILE`: the compute node, until SIGTERM or SIGINT. */
import type { Logger } from 'winston';
import { imageServiceToken } from '../api/image/external-glance';
import { createLogger } from '../common/log';
import type { BerthConfig } from '../config/schema';
import { ComputeService } from '../driver/compute/service';
import { GlanceImageService } from '../driver/image/glance-image-service';
import type { ImageService } from '../driver/image/image-service';
import { untilStopped } from './signals';
import { hostImageStore } from '../driver/image/host-image-store';

/**
 * Images come from the image service ([glance] api_servers, in turn: berth api's
 * own by default) and are kept in this host's store; what is already
 * there is used without asking.
 */
function imagesFor(config: BerthConfig, log: Logger): ImageService {
  const cache = hostImageStore(config, log);
  return new GlanceImageService({
    endpoint: config.glance.api_servers,
    token: imageServiceToken(config, log),
    cache,
    log,
  });
}

export async function computeCommand(config: BerthConfig): Promise<number> {
  const log = createLogger({ level: config.DEFAULT.log_level });
  const service = await ComputeService.start({ config, log, images: imagesFor(config, log) });
  process.stdout.write(`berth compute: status API at ${service.statusUrl}\n`);
  const signal = await untilStopped();
  log.info('stopping: finishing in-flight work; instances keep running', { signal });
  await service.stop();
  return 0;
}
