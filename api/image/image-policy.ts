/**
 * Who sees and changes which image, as Glance's default policy has it
 * (berth keeps no image members, so `shared` reaches only its owner):
 * admins see everything; `public` and `community` images, and those with
 * no owner (put in the store by the operator), are anyone's to read; an
 * image is changed by its owner's project or an admin. Listings
 * leave out other projects' community images unless asked for them, and
 * hidden images unless `os_hidden=true`, as Glance does.
 */
import type { ImageRecord, ImageVisibility } from '../../driver/image/image-service';
import type { Credentials } from '../context';

export function canSee(r: ImageRecord, who: Credentials): boolean {
  return (
    who.isAdmin ||
    // Glance's is_image_visible: "No owner == image visible".
    r.owner === null ||
    r.visibility === 'public' ||
    r.visibility === 'community' ||
    r.owner === who.projectId
  );
}

export function canModify(r: ImageRecord, who: Credentials): boolean {
  return who.isAdmin || (r.owner !== null && r.owner === who.projectId);
}

/** Whether a listing with the `visibility` filter (or none) shows `r`. */
export function listed(
  r: ImageRecord,
  who: Credentials,
  visibility: ImageVisibility | 'all' | undefined,
): boolean {
  if (!canSee(r, who)) return false;
  if (visibility === 'all') return true;
  if (visibility) return r.visibility === visibility;
  const mine = r.owner !== null && r.owner === who.projectId;
  return r.visibility !== 'community' || mine || who.isAdmin;
}
