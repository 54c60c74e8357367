/**
 * Nova's compute _rotate_backups: once a backup is uploaded, only the
 * `rotation` newest backups of its instance and backup type stay. Run by
 * the compute after the upload, so a failed backup never costs an old one.
 */
import { NotFoundError } from '../../common/errors';
import type { ImageRecord, ImageService } from './image-service';

export async function rotateBackups(
  images: ImageService,
  backup: Pick<ImageRecord, 'id' | 'properties'>,
  rotation: number,
): Promise<string[]> {
  const { instance_uuid, backup_type } = backup.properties;
  const older = (await images.list())
    .filter(
      (i) =>
        i.id !== backup.id &&
        i.properties.instance_uuid === instance_uuid &&
        i.properties.image_type === 'backup' &&
        i.properties.backup_type === backup_type,
    )
    .sort((a, b) => b.created_at.localeCompare(a.created_at));
  const excess = older.slice(Math.max(0, rotation - 1));
  for (const old of excess)
    await images.delete(old.id).catch((err: unknown) => {
      // A backup gone meanwhile is rotated already.
      if (!(err instanceof NotFoundError)) throw err;
    });
  return excess.map((i) => i.id);
}
