/**
 * Glance's metadata definitions catalog (`/v2/metadefs`), empty: berth
 * has no namespaces of properties to offer, but Horizon's Images panel and
 * its "Update Metadata" dialogs list them through glanceclient, which first
 * builds a model from `/v2/schemas/metadefs/namespace`. The schemas are
 * Glance's own (glance/api/v2/metadef_namespaces.py), for the fields a
 * namespace record has.
 */
import { Router } from 'express';
import { itemNotFound } from '../faults';

function namespaceSchema() {
  const text = (maxLength: number) => ({ type: 'string', maxLength });
  return {
    name: 'namespace',
    properties: {
      namespace: text(80),
      display_name: text(80),
      description: text(500),
      visibility: { type: 'string', enum: ['public', 'private'] },
      protected: { type: 'boolean' },
      owner: text(255),
      created_at: { type: 'string', readOnly: true, format: 'date-time' },
      updated_at: { type: 'string', readOnly: true, format: 'date-time' },
      schema: { type: 'string', readOnly: true },
      self: { type: 'string', readOnly: true },
      resource_type_associations: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            prefix: { type: 'string' },
            properties_target: { type: 'string' },
          },
        },
      },
      properties: { type: 'object' },
      objects: { type: 'array', items: { type: 'object' } },
      tags: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
    },
    additionalProperties: false,
  };
}

function namespacesSchema() {
  return {
    name: 'namespaces',
    properties: {
      namespaces: { type: 'array', items: namespaceSchema() },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

export function metadefsRouter(): Router {
  const router = Router();
  router.get('/v2/schemas/metadefs/namespace', (_req, res) => {
    res.json(namespaceSchema());
  });
  router.get('/v2/schemas/metadefs/namespaces', (_req, res) => {
    res.json(namespacesSchema());
  });
  router.get('/v2/metadefs/namespaces', (_req, res) => {
    res.json({
      namespaces: [],
      first: '/v2/metadefs/namespaces',
      schema: '/v2/schemas/metadefs/namespaces',
    });
  });
  router.get('/v2/metadefs/namespaces/:namespace', (req, _res, next) => {
    next(itemNotFound(`Metadata definition namespace=${req.params.namespace} was not found.`));
  });
  router.get('/v2/metadefs/resource_types', (_req, res) => {
    res.json({ resource_types: [] });
  });
  return router;
}
