/**
 * An ImageRecord as Glance v2 puts it on the wire (reference/nova-wire.md
 * §5.1) and back: base fields, then custom properties flat at the top
 * level. The image API serves this shape and the Glance client reads it,
 * so the two cannot drift apart.
 */
import { InvalidArgumentError } from '../../common/errors';
import { HASH_ALGO, type ImageCommandConfig, type ImageRecord } from './image-service';

/**
 * The command an image records travels as this custom property (a JSON
 * object with `entrypoint`/`cmd`/`env`/`workingDir`/`user`), so that a compute host booting an image
 * from `berth api` runs what `berth image import --command` recorded.
 */
export const CONFIG_PROPERTY = 'berth_config';

/** Keys Glance owns; every other key of an image is a custom property. */
export const BASE_FIELDS = [
  'id',
  'name',
  'status',
  'container_format',
  'disk_format',
  'visibility',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'protected',
  'os_hidden',
  'min_ram',
  'min_disk',
  'owner',
  'tags',
  'created_at',
  'updated_at',
  'self',
  'file',
  'schema',
  'direct_url',
  'locations',
  'stores',
] as const;

const BASE = new Set<string>(BASE_FIELDS);

export const isBaseField = (key: string) => BASE.has(key);

/** Glance prints times to the second with a Z (timeutils.isotime). */
const isoSeconds = (t: string) => `${t.slice(0, 19)}Z`;

export type GlanceImage = Record<string, unknown>;

export function toGlanceImage(r: ImageRecord): GlanceImage {
  return {
    ...r.properties,
    ...(r.config ? { [CONFIG_PROPERTY]: JSON.stringify(r.config) } : {}),
    id: r.id,
    name: r.name || null,
    status: r.status,
    container_format: r.container_format,
    disk_format: r.disk_format,
    visibility: r.visibility,
    size: r.size,
    virtual_size: null,
    checksum: r.checksum,
    os_hash_algo: r.os_hash_algo,
    os_hash_value: r.os_hash_value,
    protected: r.protected,
    os_hidden: r.os_hidden,
    min_ram: r.min_ram,
    min_disk: r.min_disk,
    owner: r.owner,
    tags: [...r.tags],
    created_at: isoSeconds(r.created_at),
    updated_at: isoSeconds(r.updated_at),
    self: `/v2/images/${r.id}`,
    file: `/v2/images/${r.id}/file`,
    schema: '/v2/schemas/image',
  };
}

/** Reads an image another Glance (or `berth api`) served; InvalidArgumentError if it is not one. */
export function fromGlanceImage(g: GlanceImage): ImageRecord {
  const str = (k: string) => (typeof g[k] === 'string' ? (g[k] as string) : null);
  const int = (k: string) => (Number.isInteger(g[k]) ? (g[k] as number) : null);
  const id = str('id');
  if (!id) throw new InvalidArgumentError('the image service answered an image without an id');
  const properties: Record<string, string> = {};
  for (const [key, value] of Object.entries(g))
    if (!BASE.has(key) && typeof value === 'string') properties[key] = value;
  const config = configFromProperty(properties[CONFIG_PROPERTY]);
  delete properties[CONFIG_PROPERTY];
  const record: ImageRecord = {
    id,
    name: str('name') ?? '',
    status: (str('status') ?? 'queued') as ImageRecord['status'],
    container_format: str('container_format'),
    disk_format: str('disk_format'),
    size: int('size'),
    checksum: str('checksum'),
    os_hash_algo: str('os_hash_algo') === HASH_ALGO ? HASH_ALGO : null,
    os_hash_value: str('os_hash_algo') === HASH_ALGO ? str('os_hash_value') : null,
    visibility: (str('visibility') ?? 'shared') as ImageRecord['visibility'],
    protected: g.protected === true,
    os_hidden: g.os_hidden === true,
    min_disk: int('min_disk') ?? 0,
    min_ram: int('min_ram') ?? 0,
    owner: str('owner'),
    tags: Array.isArray(g.tags) ? g.tags.filter((t): t is string => typeof t === 'string') : [],
    created_at: str('created_at') ?? new Date(0).toISOString(),
    updated_at: str('updated_at') ?? new Date(0).toISOString(),
    properties,
  };
  if (config) record.config = config;
  return record;
}

/** The recorded command in its property form; InvalidArgumentError when it is malformed. */
export function configFromProperty(text: string | undefined): ImageCommandConfig | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const argv = (a: unknown) =>
    a === undefined || (Array.isArray(a) && a.every((s) => typeof s === 'string'));
  const str = (a: unknown) => a === undefined || typeof a === 'string';
  const v = value as ImageCommandConfig | undefined;
  if (
    !v ||
    typeof v !== 'object' ||
    Array.isArray(v) ||
    ![v.entrypoint, v.cmd, v.env].every(argv) ||
    ![v.workingDir, v.user].every(str)
  )
    throw new InvalidArgumentError(
      `${CONFIG_PROPERTY} must be a JSON object with string arrays "entrypoint", "cmd" and "env" and strings "workingDir" and "user"`,
    );
  return {
    ...(v.entrypoint ? { entrypoint: v.entrypoint } : {}),
    ...(v.cmd ? { cmd: v.cmd } : {}),
    ...(v.env ? { env: v.env } : {}),
    ...(v.workingDir !== undefined ? { workingDir: v.workingDir } : {}),
    ...(v.user !== undefined ? { user: v.user } : {}),
  };
}
