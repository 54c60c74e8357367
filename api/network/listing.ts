/**
 * Neutron's list queries over wire-form objects: any attribute as a
 * filter (repeated = any of; `fixed_ips=ip_address=…` / `subnet_id=…`;
 * unknown keys are 400 as the filter-validation extension has it), tag
 * filters, `sort_key`/`sort_dir`, `limit`/`marker`/`page_reverse` with
 * `<collection>_links`, and `fields=` selection.
 */
import { compareValues } from '../../common/compare-values';
import { httpBadRequest, invalidAttribute } from './errors';
import type { Body } from './store';

const PAGING = ['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse'];
const TAG_FILTERS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'];

export interface ListQuery {
  params: URLSearchParams;
  filters: Map<string, string[]>;
  tagFilters: Map<string, string[]>;
  sort: { key: string; dir: 1 | -1 }[];
  limit?: number;
  marker?: string;
  pageReverse: boolean;
  fields?: string[];
}

function asBool(key: string, v: string): boolean {
  if (/^(true|1)$/i.test(v)) return true;
  if (/^(false|0)$/i.test(v)) return false;
  throw invalidAttribute(key, `'${v}' cannot be converted to boolean`);
}

/** The list query of a request's query string, checked against the collection's keys. */
export function parseListQuery(
  search: string,
  keys: readonly string[],
  taggable: boolean,
): ListQuery {
  const params = new URLSearchParams(search);
  const filters = new Map<string, string[]>();
  const tagFilters = new Map<string, string[]>();
  const bad: string[] = [];
  for (const [k, v] of params) {
    if (PAGING.includes(k)) continue;
    if (TAG_FILTERS.includes(k) && taggable) {
      tagFilters.set(k, [...(tagFilters.get(k) ?? []), ...v.split(',').filter(Boolean)]);
      continue;
    }
    if (!keys.includes(k) || k === 'tags') {
      bad.push(k);
      continue;
    }
    filters.set(k, [...(filters.get(k) ?? []), v]);
  }
  if (bad.length)
    throw httpBadRequest(
      `[${bad.map((k) => `'${k}'`).join(', ')}] is invalid attribute for filtering`,
    );
  const sortKeys = params.getAll('sort_key');
  const sortDirs = params.getAll('sort_dir');
  if (sortDirs.length > sortKeys.length)
    throw httpBadRequest('The number of sort_keys and sort_dirs must be same');
  const sort = sortKeys.map((key, i) => {
    if (!keys.includes(key) || key === 'tags')
      throw httpBadRequest(`['${key}'] is invalid attribute for sort_key`);
    const dir = sortDirs[i] ?? 'asc';
    if (dir !== 'asc' && dir !== 'desc')
      throw httpBadRequest(`['${dir}'] is invalid value for sort_dir`);
    return { key, dir: dir === 'asc' ? (1 as const) : (-1 as const) };
  });
  const limitText = params.get('limit');
  let limit: number | undefined;
  if (limitText !== null) {
    if (!/^\d{1,9}$/.test(limitText))
      throw httpBadRequest(`Limit must be an integer 0 or greater and not '${limitText}'`);
    limit = Number(limitText) || undefined;
  }
  const fields = params.getAll('fields');
  return {
    params,
    filters,
    tagFilters,
    sort,
    limit,
    marker: params.get('marker') ?? undefined,
    pageReverse: params.has('page_reverse')
      ? asBool('page_reverse', params.get('page_reverse')!)
      : false,
    fields: fields.length ? fields : undefined,
  };
}

/** Whether one fixed IP filter (`ip_address=…`, `subnet_id=…`, `ip_address_substr=…`) holds for a port. */
function fixedIpsMatch(item: Body, values: string[]): boolean {
  const want: Record<string, string[]> = {};
  for (const v of values) {
    const m = /^(ip_address|subnet_id|ip_address_substr)=(.*)$/.exec(v);
    if (!m)
      throw invalidAttribute('fixed_ips', `'${v}' is not of the form ip_address=X or subnet_id=X`);
    (want[m[1]] ??= []).push(m[2]);
  }
  return (item.fixed_ips as { subnet_id: string; ip_address: string }[]).some(
    (f) =>
      (!want.ip_address || want.ip_address.includes(f.ip_address)) &&
      (!want.subnet_id || want.subnet_id.includes(f.subnet_id)) &&
      (!want.ip_address_substr || want.ip_address_substr.some((s) => f.ip_address.includes(s))),
  );
}

function valueMatches(key: string, actual: unknown, wanted: string): boolean {
  if (typeof actual === 'boolean') return actual === asBool(key, wanted);
  if (typeof actual === 'number') return String(actual) === wanted;
  if (Array.isArray(actual)) return actual.some((a) => typeof a === 'string' && a === wanted);
  if (actual === null) return wanted === '' || wanted === 'None';
  return typeof actual === 'string' && actual === wanted;
}

function matches(item: Body, q: ListQuery): boolean {
  for (const [key, values] of q.filters) {
    if (key === 'fixed_ips') {
      if (!fixedIpsMatch(item, values)) return false;
    } else if (!values.some((v) => valueMatches(key, item[key], v))) return false;
  }
  const tags = (item.tags as string[] | undefined) ?? [];
  const all = (t: string[]) => t.every((x) => tags.includes(x));
  const any = (t: string[]) => t.some((x) => tags.includes(x));
  const f = q.tagFilters;
  if (f.has('tags') && !all(f.get('tags')!)) return false;
  if (f.has('tags-any') && !any(f.get('tags-any')!)) return false;
  if (f.has('not-tags') && f.get('not-tags')!.length && all(f.get('not-tags')!)) return false;
  if (f.has('not-tags-any') && any(f.get('not-tags-any')!)) return false;
  return true;
}

function comparator(q: ListQuery, paged: boolean) {
  return (a: Body, b: Body) => {
    for (const s of q.sort) {
      const c = compareValues(a[s.key], b[s.key]);
      if (c) return c * s.dir;
    }
    // Pages need a total order; Neutron adds the id as the last sort key.
    return paged ? compareValues(a.id, b.id) : 0;
  };
}

export interface Page {
  items: Body[];
  links?: { rel: string; href: string }[];
}

/**
 * Filters, sorts and pages `all` (every object the caller may see, in
 * creation order); `marker` must be one of them. `href` is the
 * collection's absolute URL for the links.
 */
export function listPage(
  all: Body[],
  q: ListQuery,
  href: string,
  notFound: (id: string) => Error,
): Page {
  const paged = q.limit !== undefined || q.marker !== undefined;
  const cmp = comparator(q, paged);
  let items = all.filter((i) => matches(i, q));
  if (q.sort.length || paged) items = [...items].sort(cmp);
  if (q.marker !== undefined) {
    const marker = all.find((i) => i.id === q.marker);
    if (!marker) throw notFound(q.marker);
    items = items.filter((i) => (q.pageReverse ? cmp(i, marker) < 0 : cmp(i, marker) > 0));
  }
  if (q.limit !== undefined)
    items = q.pageReverse
      ? items.slice(Math.max(0, items.length - q.limit))
      : items.slice(0, q.limit);
  const selected = q.fields ? items.map((i) => pick(i, q.fields!)) : items;
  return { items: selected, links: q.limit === undefined ? undefined : pageLinks(items, q, href) };
}

/** Neutron's get_pagination_links: `next` unless a forward page came up short, `previous` likewise backwards. */
function pageLinks(items: Body[], q: ListQuery, href: string) {
  const links: { rel: string; href: string }[] = [];
  const link = (rel: string, marker: string, reverse: boolean) => {
    const p = new URLSearchParams(q.params);
    p.delete('marker');
    p.delete('page_reverse');
    p.append('marker', marker);
    if (reverse) p.append('page_reverse', 'True');
    links.push({ rel, href: `${href}?${p.toString()}` });
  };
  const short = items.length < q.limit!;
  if (items.length && !(short && !q.pageReverse)) link('next', items[items.length - 1].id, false);
  if (items.length && !(short && q.pageReverse)) link('previous', items[0].id, true);
  return links;
}

export function pick(item: Body, fields: string[]): Body {
  const out: Body = {};
  for (const f of fields) if (Object.hasOwn(item, f)) out[f] = item[f];
  return out;
}
