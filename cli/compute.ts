/** `berth compute --config FILE`: the compute node, until SIGTERM or SIGINT. */
import { createLogger } from '../config/log';
import type { BerthConfig } from '../config/schema';
import { ComputeService } from '../driver/compute/service';

export async function computeCommand(config: BerthConfig): Promise<number> {
  const log = createLogger({ level: config.DEFAULT.log_level });
  const service = await ComputeService.start({ config, log });
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info('stopping: finishing in-flight work; instances keep running', { signal });
  await service.stop();
  return 0;
}
