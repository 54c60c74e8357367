/**
 * GET /extensions: the Cinder API extensions whose calls and attributes
 * berth's block storage serves, with Cinder's aliases, names and dates, so
 * clients (and Tempest's volume api_extensions) see what they may use.
 */
import type { Router } from 'express';

const UPDATED = '2013-06-27T00:00:00+00:00';

const ext = (alias: string, name: string, description: string) => ({
  alias,
  name,
  description,
  links: [],
  updated: UPDATED,
});

export const VOLUME_EXTENSIONS = [
  ext('os-availability-zone', 'AvailabilityZones', 'Describe Availability Zones.'),
  ext(
    'os-extended-snapshot-attributes',
    'ExtendedSnapshotAttributes',
    'Extended SnapshotAttributes support.',
  ),
  ext('os-quota-sets', 'Quotas', 'Quota management support.'),
  ext('os-types-extra-specs', 'TypesExtraSpecs', 'Type extra specs support.'),
  ext('os-types-manage', 'TypesManage', 'Types manage support.'),
  ext('os-vol-host-attr', 'VolumeHostAttribute', 'Expose host as an attribute of a volume.'),
  ext(
    'os-vol-mig-status-attr',
    'VolumeMigStatusAttribute',
    'Expose migration_status as an attribute of a volume.',
  ),
  ext(
    'os-vol-tenant-attr',
    'VolumeTenantAttribute',
    'Expose the internal project_id as an attribute of a volume.',
  ),
  ext('os-volume-actions', 'VolumeActions', 'Enable volume actions.'),
  ext('os-volume-type-access', 'VolumeTypeAccess', 'Volume type access support.'),
];

export function mountExtensions(r: Router): void {
  r.get('/extensions', (_req, res) => {
    res.json({ extensions: VOLUME_EXTENSIONS });
  });
}
