/**
 * Image records that name a registry image (container_format docker,
 * property docker_image_ref, no data) are resolved here, once, right
 * after Glance's create has answered: the manifest is pinned and the
 * layers and runtime config recorded, and the image becomes `active`; an
 * image that cannot be resolved (malformed reference, refused
 * credentials, no such image, unreachable registry) becomes `killed`,
 * with a log line saying why.
 */
import type { Logger } from '../../common/log';
import { ConflictError, NotFoundError } from '../../common/errors';
import type { RegistrySection } from '../../config/schema';
import type { ImageRecord, ImageService } from '../../driver/image/image-service';
import { parseReference } from '../../driver/image/registry/reference';
import {
  isRegistryRecord,
  REF_PROPERTY,
  resolvedChanges,
} from '../../driver/image/registry/registry-record';
import {
  type RegistryClient,
  registryClientFromConfig,
} from '../../driver/image/registry/registry-client';

export class RegistryImageResolver {
  private client?: RegistryClient;
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly config: RegistrySection,
    private readonly images: ImageService,
    private readonly log: Logger,
  ) {}

  /** Starts resolving `record` when it is a registry image the store can settle. */
  maybeStart(record: ImageRecord): void {
    if (!isRegistryRecord(record) || !this.images.settle || this.pending.has(record.id)) return;
    const job = this.resolve(record).finally(() => this.pending.delete(record.id));
    this.pending.set(record.id, job);
  }

  /** Resolves when every resolution started so far has settled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending.values());
  }

  close(): void {
    this.client?.close();
  }

  private async resolve(record: ImageRecord): Promise<void> {
    const settle = this.images.settle!.bind(this.images);
    const text = record.properties[REF_PROPERTY];
    try {
      const ref = parseReference(text);
      this.client ??= registryClientFromConfig(this.config, this.log);
      const image = await this.client.resolve(ref);
      // Properties set while resolving are kept: the record is read again just before.
      const current = await this.images.show(record.id);
      await settle(record.id, 'active', resolvedChanges(current.properties, image));
      this.log.info('registry image active', {
        image: record.id,
        ref: text,
        digest: image.manifestDigest,
      });
    } catch (err) {
      if (err instanceof NotFoundError && !(await this.exists(record.id))) return;
      if (err instanceof ConflictError) return; // data was uploaded or it changed state meanwhile
      this.log.warn('registry image could not be resolved: killed', {
        image: record.id,
        ref: text,
        error: (err as Error).message,
      });
      await settle(record.id, 'killed').catch((e: unknown) => {
        if (!(e instanceof ConflictError || e instanceof NotFoundError)) throw e;
      });
    }
  }

  private async exists(id: string): Promise<boolean> {
    return this.images.show(id).then(
      () => true,
      () => false,
    );
  }
}
