/**
 * `GET /v2/images` as Glance answers it: the caller's images filtered
 * (name, status, visibility, owner, formats, tags, size, os_hidden, and
 * any other key as a custom property), sorted (default created_at desc),
 * paged by limit and marker, with `first` and `next` links relative to the
 * endpoint, as Glance writes them.
 */
import { toGlanceImage } from '../../driver/image/glance-wire';
import {
  VISIBILITIES,
  type ImageRecord,
  type ImageVisibility,
} from '../../driver/image/image-service';
import type { Credentials } from '../context';
import { badRequest } from '../faults';
import { listed } from './image-policy';

/** Glance's limit_param_default and api_limit_max. */
const DEFAULT_LIMIT = 25;
const MAX_LIMIT = 1000;
const SORT_KEYS = [
  'name',
  'status',
  'container_format',
  'disk_format',
  'size',
  'id',
  'created_at',
  'updated_at',
] as const;
type SortKey = (typeof SORT_KEYS)[number];
type Direction = 'asc' | 'desc';

/** Parameters that are not filters on a field of the image. */
const CONTROL = new Set([
  'limit',
  'marker',
  'sort',
  'sort_key',
  'sort_dir',
  'member_status',
  'visibility',
  'os_hidden',
  'tag',
  'size_min',
  'size_max',
]);
/** Fields a filter may name with Glance's `in:a,b` operator, or exactly. */
const FIELDS = new Set(['name', 'status', 'owner', 'container_format', 'disk_format', 'id']);

type Query = Record<string, string[]>;

function flatten(query: Record<string, unknown>): Query {
  const out: Query = {};
  for (const [key, value] of Object.entries(query))
    out[key] = (Array.isArray(value) ? value : [value]).map((v) => String(v));
  return out;
}

export function imageListing(
  records: ImageRecord[],
  rawQuery: Record<string, unknown>,
  who: Credentials,
) {
  const query = flatten(rawQuery);
  const one = (key: string) => query[key]?.at(-1);
  const limit = parseLimit(one('limit'));
  const visibility = parseVisibility(one('visibility'));
  const hidden = one('os_hidden') === undefined ? false : parseBool('os_hidden', one('os_hidden')!);
  const order = parseSort(query);
  const matches = filters(query);
  const compare = comparator(order);

  const visible = records.filter((r) => listed(r, who, visibility));
  let rows = visible.filter((r) => r.os_hidden === hidden && matches(r)).sort(compare);
  const marker = one('marker');
  if (marker !== undefined) {
    const at = visible.find((r) => r.id === marker);
    if (!at) throw badRequest(`Invalid marker. Image ${marker} could not be found.`);
    rows = rows.filter((r) => compare(r, at) > 0);
  }
  const page = rows.slice(0, limit);

  const params = new URLSearchParams();
  for (const [key, values] of Object.entries(query))
    if (key !== 'marker') for (const v of values) params.append(key, v);
  const body: Record<string, unknown> = {
    images: page.map(toGlanceImage),
    first: params.size ? `/v2/images?${params}` : '/v2/images',
    schema: '/v2/schemas/images',
  };
  if (rows.length > page.length && page.length) {
    params.set('marker', page[page.length - 1].id);
    body.next = `/v2/images?${params}`;
  }
  return body;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIMIT;
  if (!/^-?\d+$/.test(text.trim())) throw badRequest('limit param must be an integer');
  const limit = Number(text);
  if (limit < 0) throw badRequest('limit param must be positive');
  return Math.min(limit, MAX_LIMIT);
}

function parseVisibility(text: string | undefined): ImageVisibility | 'all' | undefined {
  if (text === undefined) return undefined;
  if (text !== 'all' && !VISIBILITIES.includes(text as ImageVisibility))
    throw badRequest(`Invalid visibility value: ${text}`);
  return text as ImageVisibility | 'all';
}

function parseBool(key: string, text: string): boolean {
  const t = text.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(t)) return true;
  if (['false', '0', 'no', 'off'].includes(t)) return false;
  throw badRequest(`Invalid value for ${key}: ${text}`);
}

/** Glance's two syntaxes: `sort=k:dir,...`, or repeated `sort_key` with one or matching `sort_dir`s. */
function parseSort(query: Query): [SortKey, Direction][] {
  const key = (k: string): SortKey => {
    if (!SORT_KEYS.includes(k as SortKey))
      throw badRequest(
        `Invalid sort key: ${k}. It must be one of the following: ${SORT_KEYS.join(', ')}.`,
      );
    return k as SortKey;
  };
  const dir = (d: string): Direction => {
    if (d !== 'asc' && d !== 'desc') throw badRequest(`Invalid sort direction: ${d}`);
    return d;
  };
  if (query.sort) {
    if (query.sort_key || query.sort_dir)
      throw badRequest('Old and new sorting syntax cannot be combined');
    return query.sort
      .join(',')
      .split(',')
      .map((part) => {
        const [k, d] = part.split(':');
        return [key(k.trim()), dir((d ?? 'desc').trim())];
      });
  }
  const keys = (query.sort_key ?? ['created_at']).map((k) => key(k.trim()));
  const dirs = (query.sort_dir ?? ['desc']).map((d) => dir(d.trim()));
  if (dirs.length > 1 && dirs.length !== keys.length)
    throw badRequest('Number of sort dirs does not match the number of sort keys');
  return keys.map((k, i) => [k, dirs.length > 1 ? dirs[i] : dirs[0]]);
}

/** Sort order, then created_at and id as tie-breakers so that markers page stably. */
function comparator(order: [SortKey, Direction][]) {
  const last = order[order.length - 1][1];
  const full: [SortKey, Direction][] = [...order, ['created_at', last], ['id', last]];
  return (a: ImageRecord, b: ImageRecord): number => {
    for (const [key, dir] of full) {
      const c = compareValues(a[key], b[key]);
      if (c) return dir === 'asc' ? c : -c;
    }
    return 0;
  };
}

function compareValues(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null || a === '') return -1;
  if (b === null || b === '') return 1;
  return a < b ? -1 : 1;
}

function filters(query: Query): (r: ImageRecord) => boolean {
  const tests: ((r: ImageRecord) => boolean)[] = [];
  for (const [key, values] of Object.entries(query)) {
    if (CONTROL.has(key)) continue;
    const value = values[values.length - 1];
    if (FIELDS.has(key)) {
      const wanted = value.startsWith('in:') ? splitIn(value.slice(3)) : [value];
      tests.push((r) => wanted.includes(String(r[key as keyof ImageRecord] ?? '')));
    } else tests.push((r) => r.properties[key] === value);
  }
  for (const tag of query.tag ?? []) tests.push((r) => r.tags.includes(tag));
  const size = (k: string) => {
    const v = query[k]?.at(-1);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw badRequest(`Invalid value for ${k}: ${v}`);
    return Number(v);
  };
  const min = size('size_min');
  const max = size('size_max');
  if (min !== undefined) tests.push((r) => r.size !== null && r.size >= min);
  if (max !== undefined) tests.push((r) => r.size !== null && r.size <= max);
  return (r) => tests.every((t) => t(r));
}

/** `a,"b,c"` → ['a', 'b,c'] */
function splitIn(text: string): string[] {
  return [...text.matchAll(/"((?:[^"\\]|\\.)*)"|([^,]+)/g)].map((m) => m[1] ?? m[2].trim());
}
