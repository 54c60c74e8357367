/**
 * Cinder's list parameters, as its api/common.py reads them: `sort`
 * (`key[:dir],…`) or the legacy `sort_key`/`sort_dir`, newest first by
 * default (created_at desc, id desc); then `marker` (the last id seen),
 * `offset` and `limit`, and a `next` link when a page is full.
 */
import type { Request } from 'express';
import { compareValues } from '../../common/compare-values';
import { baseUrl } from '../context';
import { itemNotFound } from '../faults';
import { invalidInput } from './errors';

const DEFAULT_SORT: [string, 'asc' | 'desc'][] = [
  ['created_at', 'desc'],
  ['id', 'desc'],
];

function sortSpec(req: Request, keys: readonly string[]): [string, 'asc' | 'desc'][] {
  const q = req.query;
  const pairs: [string, string][] = [];
  if (typeof q.sort === 'string') {
    if (q.sort_key !== undefined || q.sort_dir !== undefined)
      throw invalidInput(
        "The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.",
      );
    for (const part of q.sort.split(',')) {
      const [k, d = 'desc'] = part.trim().split(':');
      pairs.push([k, d]);
    }
  } else if (typeof q.sort_key === 'string')
    pairs.push([q.sort_key, typeof q.sort_dir === 'string' ? q.sort_dir : 'desc']);
  if (!pairs.length) return DEFAULT_SORT;
  const out: [string, 'asc' | 'desc'][] = pairs.map(([k, d]) => {
    if (!keys.includes(k)) throw invalidInput(`Invalid sort key ${k}`);
    if (d !== 'asc' && d !== 'desc')
      throw invalidInput(`Unknown sort direction, must be 'desc' or 'asc'`);
    return [k, d];
  });
  // Ties resolve by id, as Cinder adds it to every sort.
  if (!out.some(([k]) => k === 'id')) out.push(['id', out[0][1]]);
  return out;
}

const count = (v: unknown, what: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw invalidInput(`${what} param must be an integer`);
  return n;
};

export interface Page<T> {
  rows: T[];
  /** the `<collection>_links` Cinder adds when the page is full */
  links?: { href: string; rel: 'next' }[];
}

export function listPage<T extends { id: string }>(
  req: Request,
  rows: T[],
  sortKeys: readonly string[],
): Page<T> {
  const spec = sortSpec(req, sortKeys);
  let out = [...rows].sort((a, b) => {
    for (const [k, d] of spec) {
      const c = compareValues((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]);
      if (c) return d === 'asc' ? c : -c;
    }
    return 0;
  });
  if (typeof req.query.marker === 'string') {
    const at = out.findIndex((r) => r.id === req.query.marker);
    if (at < 0) throw itemNotFound(`Marker ${req.query.marker} could not be found.`);
    out = out.slice(at + 1);
  }
  const offset = count(req.query.offset, 'offset');
  if (offset) out = out.slice(offset);
  const limit = count(req.query.limit, 'limit');
  // Cinder links a next page whenever this one is full, even if nothing follows.
  if (limit === undefined || out.length < limit || limit === 0)
    return { rows: out.slice(0, limit) };
  out = out.slice(0, limit);
  const params = new URLSearchParams(req.query as Record<string, string>);
  params.delete('offset');
  params.set('marker', out[out.length - 1].id);
  const path = req.originalUrl.split('?')[0];
  return { rows: out, links: [{ href: `${baseUrl(req)}${path}?${params}`, rel: 'next' }] };
}
