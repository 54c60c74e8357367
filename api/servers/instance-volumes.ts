/**
 * What the end of an instance does to its volumes, as Nova's delete
 * (_local_cleanup_bdm_volumes, and the compute's _cleanup_volumes): each
 * attachment goes and its volume is available again; one attached with
 * delete_on_termination is then deleted. The compute has unmounted them
 * already (or never had them, for a local delete).
 */
import type { ApiContext } from '../context';
import { attachmentsOfInstance, findVolume } from '../volume/store';
import type { VolumeService } from '../volume/volume-service';
import { releaseAttachment } from './volume-attachments';

export async function releaseInstanceVolumes(
  volumes: VolumeService,
  uuid: string,
  ctx: ApiContext,
): Promise<void> {
  for (const a of await attachmentsOfInstance(volumes.db, uuid)) {
    await releaseAttachment(volumes.db, a);
    const v = a.delete_on_termination ? await findVolume(volumes.db, a.volume_id) : undefined;
    // The server is gone either way: a volume that cannot be deleted stays, available.
    if (v)
      await volumes.remove(ctx, v).catch((err: Error) =>
        ctx.log.warn('delete_on_termination volume not deleted', {
          instance_uuid: uuid,
          volume_id: v.id,
          error: err.message,
        }),
      );
  }
}
