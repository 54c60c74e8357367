/** `berth image pull`: a registry image into the host's store, recorded active (no data). */
import type { BerthConfig } from '../config/schema';
import { InvalidArgumentError } from '../common/errors';
import { createLogger } from '../common/log';
import { BlobStore } from '../driver/image/cache/blob-store';
import type { ImageRecord } from '../driver/image/image-service';
import type { LocalImageStore } from '../driver/image/local-image-store';
import { pullImage } from '../driver/image/registry/pull';
import { parseReference } from '../driver/image/registry/reference';
import { registryImage } from '../driver/image/registry/registry-record';
import { registryClientFromConfig } from '../driver/image/registry/registry-client';
import { parseArgs } from './args';
import { pullProgress } from './pull-progress';

export async function pullCommand(
  argv: string[],
  config: BerthConfig,
  store: LocalImageStore,
  usage: string,
): Promise<ImageRecord> {
  const args = parseArgs(argv, ['username', 'password'], [], Infinity);
  if (args.positional.length !== 1)
    throw new InvalidArgumentError(
      `${args.positional.length ? `unexpected argument "${args.positional[1]}"` : 'missing REF'}\n${usage}`,
    );
  const username = args.options.get('username')?.at(-1);
  const password = args.options.get('password')?.at(-1);
  if ((username === undefined) !== (password === undefined))
    throw new InvalidArgumentError('--username and --password go together');
  const text = args.positional[0];
  const ref = parseReference(text);
  const log = createLogger({ level: config.DEFAULT.log_level, json: false });
  const client = registryClientFromConfig(
    config.registry,
    log,
    username !== undefined ? { username, password: password! } : undefined,
  );
  const progress = pullProgress(process.stderr, log);
  try {
    // Blobs go where the store keeps its own: one content-addressed directory per host.
    const image = await pullImage(client, ref, new BlobStore(store.root), progress.onProgress);
    progress.finish();
    const queued = await store.create(registryImage(text, image));
    return await store.settle(queued.id, 'active');
  } finally {
    client.close();
  }
}
