/**
 * `GET /v2/schemas/image(s)`: a minimal JSON schema of what berth's image
 * API returns, in Glance's layout (clients that build forms or validate
 * from it find the base fields, and custom properties are strings).
 */
import { VISIBILITIES } from '../../driver/image/image-service';
import { CONTAINER_FORMATS, DISK_FORMATS } from './image-request';

const nullable = (type: string, extra: object = {}) => ({ type: ['null', type], ...extra });

export function imageSchema() {
  return {
    name: 'image',
    additionalProperties: { type: 'string' },
    properties: {
      id: {
        type: 'string',
        pattern:
          '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$',
      },
      name: nullable('string', { maxLength: 255 }),
      status: {
        type: 'string',
        readOnly: true,
        enum: [
          'queued',
          'saving',
          'active',
          'killed',
          'deleted',
          'uploading',
          'importing',
          'pending_delete',
          'deactivated',
        ],
      },
      visibility: { type: 'string', enum: [...VISIBILITIES] },
      protected: { type: 'boolean' },
      os_hidden: { type: 'boolean' },
      checksum: nullable('string', { readOnly: true, maxLength: 32 }),
      os_hash_algo: nullable('string', { readOnly: true, maxLength: 64 }),
      os_hash_value: nullable('string', { readOnly: true, maxLength: 128 }),
      owner: nullable('string', { maxLength: 255 }),
      size: nullable('integer', { readOnly: true }),
      virtual_size: nullable('integer', { readOnly: true }),
      container_format: nullable('string', { enum: [null, ...CONTAINER_FORMATS] }),
      disk_format: nullable('string', { enum: [null, ...DISK_FORMATS] }),
      created_at: { type: 'string', readOnly: true },
      updated_at: { type: 'string', readOnly: true },
      tags: { type: 'array', items: { type: 'string', maxLength: 255 } },
      min_ram: { type: 'integer' },
      min_disk: { type: 'integer' },
      self: { type: 'string', readOnly: true },
      file: { type: 'string', readOnly: true },
      schema: { type: 'string', readOnly: true },
    },
    links: [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

export function imagesSchema() {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: imageSchema() },
      schema: { type: 'string' },
      first: { type: 'string' },
      next: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}
