/**
 * Cinder's faults, worded as Cinder words them: the same
 * `{"<name>": {"code", "message"}}` bodies as Nova's (ApiFault), so the
 * compute API's os-volume_attachments can rethrow them unchanged.
 */
import { ApiFault, badRequest, forbidden, itemNotFound, overLimit } from '../faults';

export const volumeNotFound = (id: string) => itemNotFound(`Volume ${id} could not be found.`);
export const snapshotNotFound = (id: string) =>
  itemNotFound(`Snapshot ${id} could not be found.`);
export const typeNotFound = (id: string) =>
  itemNotFound(`Volume type with name or id ${id} could not be found.`);

/** cinder.exception.InvalidVolume: the volume's state does not allow the operation. */
export const invalidVolume = (reason: string) => badRequest(`Invalid volume: ${reason}`);
export const invalidSnapshot = (reason: string) => badRequest(`Invalid snapshot: ${reason}`);
export const invalidInput = (reason: string) => badRequest(`Invalid input received: ${reason}`);

export const policyNotAuthorized = (action: string) =>
  forbidden(`Policy doesn't allow ${action} to be performed.`);

/** Cinder's VolumeSizeExceedsAvailableQuota / VolumeLimitExceeded / SnapshotLimitExceeded: 413. */
export const quotaExceeded = (message: string): ApiFault => overLimit(message);

/** The state Cinder requires before deleting a volume, in its words. */
export const DELETE_STATES_MESSAGE =
  'Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.';
