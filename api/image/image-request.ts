/**
 * Glance's checks on what a client may write: the image schema for base
 * fields (400), read-only and reserved attributes (403), custom properties
 * as strings, and JSON-patch documents applied to an image's writable
 * fields. Messages are Glance's.
 */
import Joi from 'joi';
import { CONFIG_PROPERTY, configFromProperty } from '../../driver/image/glance-wire';
import type { ImageMetadata, ImageRecord, NewImage } from '../../driver/image/image-service';
import { VISIBILITIES } from '../../driver/image/image-service';
import { UUID } from '../../driver/image/image-record';
import type { Credentials } from '../context';
import { badRequest, conflictingRequest, forbidden } from '../faults';

/** Glance's default `[image_format]` sets (reference/nova-wire.md §5.1). */
export const CONTAINER_FORMATS = [
  'ami',
  'ari',
  'aki',
  'bare',
  'ovf',
  'ova',
  'docker',
  'compressed',
];
export const DISK_FORMATS = [
  'ami',
  'ari',
  'aki',
  'vhd',
  'vhdx',
  'vmdk',
  'raw',
  'qcow2',
  'vdi',
  'iso',
  'ploop',
];

/** Base fields a client may write, with Glance's schema for each. */
const WRITABLE: Record<string, Joi.Schema> = {
  name: Joi.string().max(255).allow(null, ''),
  visibility: Joi.string().valid(...VISIBILITIES),
  protected: Joi.boolean(),
  os_hidden: Joi.boolean(),
  owner: Joi.string().max(255).allow(null),
  container_format: Joi.string()
    .valid(...CONTAINER_FORMATS)
    .allow(null),
  disk_format: Joi.string()
    .valid(...DISK_FORMATS)
    .allow(null),
  min_ram: Joi.number().integer().min(0),
  min_disk: Joi.number().integer().min(0),
  tags: Joi.array().items(Joi.string().max(255)),
};

const READ_ONLY = new Set([
  'created_at',
  'updated_at',
  'status',
  'checksum',
  'size',
  'virtual_size',
  'direct_url',
  'self',
  'file',
  'schema',
  'id',
  'os_hash_algo',
  'os_hash_value',
  'stores',
]);
const RESERVED = new Set(['location', 'locations', 'deleted', 'deleted_at']);
const RESERVED_PREFIX = 'os_glance';

function checkWritableKey(key: string, creating: boolean): void {
  if (READ_ONLY.has(key) && !(creating && key === 'id'))
    throw forbidden(`Attribute '${key}' is read-only.`);
  if (RESERVED.has(key) || key.startsWith(RESERVED_PREFIX))
    throw forbidden(`Attribute '${key}' is reserved.`);
}

/** A base field's schema; own keys only, so that `constructor` is a custom property like any other. */
const writable = (key: string): Joi.Schema | undefined =>
  Object.hasOwn(WRITABLE, key) ? WRITABLE[key] : undefined;

function checkValue(key: string, value: unknown): void {
  const schema = writable(key);
  if (schema) {
    const { error } = schema.validate(value, { convert: false });
    if (error)
      throw badRequest(`Provided object does not match schema 'image': ${key}: ${error.message}`);
    return;
  }
  if (key.length > 255)
    throw badRequest('Custom property should not be greater than 255 characters.');
  if (typeof value !== 'string')
    throw badRequest(
      `Provided object does not match schema 'image': ${JSON.stringify(value)} is not of type 'string' (${key})`,
    );
}

/** Publicizing is an admin's (Glance policy publicize_image); owners are one's own project. */
function checkPolicy(changes: ImageMetadata, who: Credentials, owner: string | null): void {
  if (changes.visibility === 'public' && !who.isAdmin)
    throw forbidden('You are not authorized to complete publicize_image action.');
  if (changes.owner !== undefined && changes.owner !== owner && !who.isAdmin)
    throw forbidden(`You are not permitted to set the owner of an image to '${changes.owner}'.`);
}

/** The body of `POST /v2/images` as a create of the store. */
export function createRequest(body: unknown, who: Credentials): NewImage {
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw badRequest('Body expected in request.');
  const image: NewImage = { owner: who.projectId };
  // Without a prototype, `__proto__` and `constructor` are property names like any other.
  const properties: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    checkWritableKey(key, true);
    if (key === 'id') {
      if (typeof value !== 'string' || !UUID.test(value))
        throw badRequest(
          `Provided object does not match schema 'image': id: ${JSON.stringify(value)} is not a uuid`,
        );
      image.id = value;
      continue;
    }
    checkValue(key, value);
    if (writable(key)) (image as Record<string, unknown>)[key] = value;
    else properties[key] = value as string;
  }
  Object.assign(image, propertiesAndConfig(properties));
  checkPolicy(image, who, who.projectId);
  return image;
}

/** Custom properties, with the recorded command taken out of its property. */
function propertiesAndConfig(properties: Record<string, string>): ImageMetadata {
  const { [CONFIG_PROPERTY]: configText, ...rest } = properties;
  try {
    const config = configFromProperty(configText);
    return config ? { properties: rest, config } : { properties: rest };
  } catch (err) {
    throw badRequest((err as Error).message);
  }
}

export const PATCH_TYPES: Record<string, 4 | 10> = {
  'application/openstack-images-v2.0-json-patch': 4,
  'application/openstack-images-v2.1-json-patch': 10,
};

interface PatchOp {
  op: 'add' | 'remove' | 'replace';
  key: string;
  value?: unknown;
}

/** Parses a Glance JSON-patch document (draft 10, or draft 4 for the v2.0 media type). */
export function patchOps(body: unknown, draft: 4 | 10): PatchOp[] {
  if (!Array.isArray(body))
    throw badRequest('Request body must be a JSON array of operation objects.');
  return body.map((raw: unknown) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw))
      throw badRequest('Operations must be JSON objects.');
    const change = raw as Record<string, unknown>;
    let op: unknown;
    let pointer: unknown;
    if (draft === 10) {
      op = change.op;
      if (op !== 'add' && op !== 'remove' && op !== 'replace')
        throw badRequest(
          `Invalid operation: \`${String(op)}\`. It must be one of the following: add, remove, replace.`,
        );
      if (!('path' in change)) throw badRequest("Unable to find 'path' in JSON Schema change");
      pointer = change.path;
    } else {
      const ops = (['add', 'remove', 'replace'] as const).filter((k) => k in change);
      if (ops.length !== 1)
        throw badRequest(
          'Operation objects must contain exactly one member named "add", "remove", or "replace".',
        );
      op = ops[0];
      pointer = change[ops[0]];
    }
    const key = pointerKey(pointer);
    if (op !== 'remove' && !('value' in change))
      throw badRequest(`Operation "${String(op)}" requires a member named "value".`);
    return { op: op as PatchOp['op'], key, value: change.value };
  });
}

/** The one attribute name a pointer like `/name` or `/hw~1x` names. */
function pointerKey(pointer: unknown): string {
  if (typeof pointer !== 'string' || !pointer.startsWith('/'))
    throw badRequest(`Pointer \`${String(pointer)}\` does not start with "/".`);
  if (/~[^01]|~$/.test(pointer))
    throw badRequest(
      `Pointer \`${pointer}\` contains "~" not part of a recognized escape sequence.`,
    );
  const parts = pointer.slice(1).split('/');
  if (parts.length !== 1 || !parts[0].trim())
    throw badRequest(`Invalid JSON pointer for this resource: '${pointer}'`);
  return parts[0].replace(/~1/g, '/').replace(/~0/g, '~').trim();
}

/**
 * The changes a patch makes to `record`, as Glance applies them: `add`
 * sets (draft 4: only what is absent), `replace` needs a custom property
 * to exist, base attributes cannot be removed, formats change only while
 * queued.
 */
export function patchChanges(
  record: ImageRecord,
  ops: PatchOp[],
  draft: 4 | 10,
  who: Credentials,
): ImageMetadata {
  const base: Record<string, unknown> = {};
  const properties: Record<string, string> = Object.assign(Object.create(null), record.properties);
  if (record.config) properties[CONFIG_PROPERTY] = JSON.stringify(record.config);
  for (const { op, key, value } of ops) {
    checkWritableKey(key, false);
    if (writable(key)) {
      if (op === 'remove') throw forbidden(`Property ${key} may not be removed.`);
      if (op === 'add' && draft === 4) throw conflictingRequest(`Property ${key} already present.`);
      checkValue(key, value);
      if ((key === 'container_format' || key === 'disk_format') && record.status !== 'queued')
        throw forbidden(`Attribute ${key} can be only replaced for a queued image.`);
      base[key] = value;
      continue;
    }
    const present = key in properties;
    if (op === 'remove' || op === 'replace') {
      if (!present) throw conflictingRequest(`Property ${key} does not exist.`);
    } else if (present && draft === 4) throw conflictingRequest(`Property ${key} already present.`);
    if (op === 'remove') delete properties[key];
    else {
      checkValue(key, value);
      properties[key] = value as string;
    }
  }
  const changes: ImageMetadata = { ...(base as ImageMetadata), ...propertiesAndConfig(properties) };
  if (record.config && !changes.config) changes.config = null;
  checkPolicy(changes, who, record.owner);
  return changes;
}
