/**
 * A registry image onto this host: its config and every layer the
 * BlobStore lacks, fetched in parallel (the client's download limit
 * bounds them) and verified before they are kept. A blob already stored,
 * or being fetched by another pull, is not fetched again.
 */
import type { BlobStore } from '../cache/blob-store';
import type { ImageReference } from './reference';
import type { RegistryClient, ResolvedImage } from './registry-client';

export interface BlobProgress {
  /** 'config' or the layer's position, bottom-most 0 */
  blob: 'config' | number;
  digest: string;
  done: number;
  total: number;
  /** bytes per second since this blob's fetch began */
  rate: number;
  /** 'cached': it was here already (or another pull fetched it) */
  state: 'fetching' | 'done' | 'cached';
}

export async function pullImage(
  client: RegistryClient,
  ref: ImageReference,
  blobs: BlobStore,
  onProgress: (p: BlobProgress) => void = () => {},
): Promise<ResolvedImage> {
  const image = await client.resolve(ref);
  const wanted = [
    {
      blob: 'config' as const,
      digest: image.manifest.config.digest,
      size: image.manifest.config.size,
    },
    ...image.layers.map((l, i) => ({ blob: i, digest: l.digest, size: l.size })),
  ];
  // Settled, not raced: when one blob fails, no other fetch is still writing once this returns.
  const results = await Promise.allSettled(
    wanted.map(async ({ blob, digest, size }) => {
      const started = Date.now();
      const report = (done: number, state: BlobProgress['state']) => {
        const seconds = Math.max((Date.now() - started) / 1000, 0.001);
        onProgress({ blob, digest, done, total: size, rate: done / seconds, state });
      };
      let fetched = false;
      await blobs.ensure({ digest, size }, (_tmp, writer) => {
        fetched = true;
        return client.fetchBlob(ref, { digest, size }, writer, (done) => report(done, 'fetching'));
      });
      report(size, fetched ? 'done' : 'cached');
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return image;
}
