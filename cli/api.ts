/**
 * `berth api --config FILE`: the control plane (Nova API, image API,
 * scheduler, conductor); `berth all-in-one`: the same plus a compute
 * node for this host in one process, on one image store.
 */
import { createLogger } from '../common/log';
import type { BerthConfig } from '../config/schema';
import { ApiService } from '../api/service';
import { ComputeService } from '../driver/compute/service';
import { bootDemoServer } from './demo-server';
import { untilStopped } from './signals';
import { hostImageStore } from '../driver/image/host-image-store';

export async function apiCommand(config: BerthConfig): Promise<number> {
  const log = createLogger({ level: config.DEFAULT.log_level });
  const api = await ApiService.start({ config, log });
  const images = config.glance.external ? config.glance.api_servers.join(',') : `${api.url}/image`;
  process.stdout.write(`berth api: compute API at ${api.url}/v2.1, image API at ${images}\n`);
  const signal = await untilStopped();
  log.info('stopping', { signal });
  await api.stop();
  return 0;
}

/** `demoImage`: a rootfs tar to boot one demo server from once the services are up (`npm start`). */
export async function allInOneCommand(config: BerthConfig, demoImage?: string): Promise<number> {
  const log = createLogger({ level: config.DEFAULT.log_level });
  const images = hostImageStore(config, log);
  const api = await ApiService.start({ config, log, images });
  let compute: ComputeService;
  try {
    compute = await ComputeService.start({ config, log, images });
  } catch (err) {
    await api.stop();
    throw err;
  }
  process.stdout.write(
    `berth all-in-one: compute API at ${api.url}/v2.1, image API at ${api.url}/image, ` +
      `status API at ${compute.statusUrl}\n`,
  );
  if (demoImage)
    await bootDemoServer(api.url, demoImage).catch((err: Error) =>
      log.error('demo server not booted', { error: err.message }),
    );
  const signal = await untilStopped();
  log.info('stopping: instances keep running', { signal });
  await compute.stop();
  await api.stop();
  return 0;
}
