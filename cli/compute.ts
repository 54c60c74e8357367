/** `berth compute --config FILE`: the compute node, until SIGTERM or SIGINT. */
import { createLogger } from '../config/log';
import type { BerthConfig } from '../config/schema';
import { ComputeService } from '../driver/compute/service';
import { untilStopped } from './signals';

export async function computeCommand(config: BerthConfig): Promise<number> {
  const log = createLogger({ level: config.DEFAULT.log_level });
  const service = await ComputeService.start({ config, log });
  const signal = await untilStopped();
  log.info('stopping: finishing in-flight work; instances keep running', { signal });
  await service.stop();
  return 0;
}
