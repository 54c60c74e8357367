/**
 * Request bodies as Neutron's RESOURCE_ATTRIBUTE_MAP reads them: each
 * resource declares its attributes (settable on POST, on PUT, a default,
 * a converter/validator, admin-only), and one parser turns a body into
 * checked values or Neutron's 400 / 403 — unknown attributes, read-only
 * ones, wrong types — before anything touches the database.
 */
import type { NetworkCaller } from './instance-network';
import type { Body } from './store';
import { parseCidr, parseIp } from './ipv4';
import { httpBadRequest, invalidAttribute, policyNotAuthorized } from './errors';

/** Converts and checks one value; throws a reason string's 400 through `fail`. */
export type Converter = (value: unknown, fail: (reason: string) => never) => unknown;

export interface Attribute {
  post?: boolean;
  put?: boolean;
  required?: boolean;
  /** the value a POST that leaves the attribute out gets */
  default?: unknown;
  convert?: Converter;
  /** only admins may set it to anything but its default (Neutron's rule:admin_only) */
  adminOnly?: boolean;
}

export type AttributeMap = Record<string, Attribute>;

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

export const str =
  (max = 255): Converter =>
  (v, fail) => {
    if (typeof v !== 'string') return fail(`'${show(v)}' is not a valid string`);
    if (v.length > max) fail(`'${v}' exceeds maximum length of ${max}`);
    return v;
  };

export const bool: Converter = (v, fail) => {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  if (v === 0 || v === 1) return v === 1;
  return fail(`'${show(v)}' cannot be converted to boolean`);
};

export const int =
  (min: number, max: number): Converter =>
  (v, fail) => {
    const n = typeof v === 'string' && /^-?\d{1,10}$/.test(v) ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n))
      return fail(`'${show(v)}' is not an integer`);
    if (n < min) fail(`'${n}' is too small - must be at least '${min}'`);
    if (n > max) fail(`'${n}' is too large - must be no larger than '${max}'`);
    return n;
  };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const uuid: Converter = (v, fail) => {
  if (typeof v !== 'string' || !UUID.test(v)) return fail(`'${show(v)}' is not a valid UUID`);
  return v.toLowerCase();
};

export const ip: Converter = (v, fail) => {
  if (parseIp(v) === undefined) fail(`'${show(v)}' is not a valid IP address`);
  return v;
};

export const cidr: Converter = (v, fail) => {
  if (!parseCidr(v)) fail(`'${show(v)}' is not a valid IP subnet`);
  return v;
};

export const nullable =
  (c: Converter): Converter =>
  (v, fail) =>
    v === null ? null : c(v, fail);

export const oneOf =
  (...values: string[]): Converter =>
  (v, fail) => {
    if (typeof v !== 'string' || !values.includes(v))
      fail(`'${show(v)}' is not in [${values.map((x) => `'${x}'`).join(', ')}]`);
    return v;
  };

export const listOf =
  (c: Converter, max = 1000): Converter =>
  (v, fail) => {
    if (!Array.isArray(v)) return fail(`'${show(v)}' is not a list`);
    if (v.length > max) fail(`'${show(v)}' exceeds maximum length of ${max}`);
    return v.map((x: unknown) => c(x, fail));
  };

/** Neutron's convert_none_to_empty_list: `null` clears a list attribute. */
export const noneAsEmpty =
  (c: Converter): Converter =>
  (v, fail) =>
    v === null ? [] : c(v, fail);

/** A dictionary with exactly these keys allowed, each converted when present. */
export const dictOf =
  (keys: Record<string, Converter>, required: string[] = []): Converter =>
  (v, fail) => {
    if (!v || typeof v !== 'object' || Array.isArray(v))
      return fail(`'${show(v)}' is not a dictionary`);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (!Object.hasOwn(keys, k)) fail(`Unrecognized key '${k}' in '${show(v)}'`);
      out[k] = keys[k](x, fail);
    }
    for (const k of required)
      if (!(k in out))
        fail(`Validation of dictionary's keys failed. Expected keys: {'${required.join("', '")}'}`);
    return out;
  };

export const anyDict: Converter = (v, fail) => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail(`'${show(v)}' is not a dictionary`);
  return v;
};

export const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
export const mac: Converter = (v, fail) => {
  // Multicast and all-zero addresses cannot be a port's.
  if (
    typeof v !== 'string' ||
    !MAC.test(v) ||
    /^(00:){5}00$/.test(v) ||
    (parseInt(v.slice(0, 2), 16) & 1) === 1
  )
    return fail(`'${show(v)}' is not a valid MAC address`);
  return v.toLowerCase();
};

/** Neutron's standard attributes every resource but port forwardings takes. */
export const DESCRIPTION: Attribute = { post: true, put: true, default: '', convert: str(255) };
export const NAME: Attribute = { post: true, put: true, default: '', convert: str(255) };
export const PROJECT: Attribute = { post: true, convert: str(255) };

/** The resource object of a `{"<resource>": {...}}` body, or Neutron's 400. */
export function resourceBody(body: unknown, resource: string): Record<string, unknown> {
  if (body === undefined || body === null) throw httpBadRequest('Resource body required');
  if (typeof body !== 'object' || Array.isArray(body) || !Object.hasOwn(body, resource))
    throw httpBadRequest(`Unable to find '${resource}' in request body`);
  const inner = (body as Record<string, unknown>)[resource];
  if (!inner || typeof inner !== 'object' || Array.isArray(inner))
    throw httpBadRequest(
      `Invalid input for ${resource}. Reason: '${show(inner)}' is not a dictionary.`,
    );
  return inner as Record<string, unknown>;
}

/**
 * Checks `given` against `attrs` for a POST (defaults filled in, required
 * ones present) or a PUT (only what is given). `action` names the policy
 * rule a refused admin-only attribute cites (create_network, update_port).
 */
export function parseAttributes(
  attrs: AttributeMap,
  given: Record<string, unknown>,
  mode: 'post' | 'put',
  caller: NetworkCaller,
  action: string,
): Body {
  const unknown = Object.keys(given).filter((k) => !Object.hasOwn(attrs, k));
  if (unknown.length) throw httpBadRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);
  const out: Body = {};
  const refused: string[] = [];
  for (const [name, a] of Object.entries(attrs)) {
    if (!Object.hasOwn(given, name)) {
      if (mode === 'post' && a.required)
        throw httpBadRequest(`Failed to parse request. Required attribute '${name}' not specified`);
      if (mode === 'post' && a.default !== undefined) out[name] = structuredClone(a.default);
      continue;
    }
    if (mode === 'post' && !a.post) throw httpBadRequest(`Attribute '${name}' not allowed in POST`);
    if (mode === 'put' && !a.put) throw httpBadRequest(`Cannot update read-only attribute ${name}`);
    const fail = (reason: string): never => {
      throw invalidAttribute(name, reason);
    };
    const value = a.convert ? a.convert(given[name], fail) : given[name];
    if (a.adminOnly && !caller.isAdmin && JSON.stringify(value) !== JSON.stringify(a.default))
      refused.push(name);
    out[name] = value;
  }
  if (refused.length) {
    const rules = refused.reduce((r, n) => `(${r} and rule:${action}:${n})`, `rule:${action}`);
    throw policyNotAuthorized(rules);
  }
  return out;
}

/** The project a new resource belongs to: the caller's, or for an admin the one the body names. */
export function owningProject(caller: NetworkCaller, v: Record<string, unknown>): string {
  const asked = (v.project_id ?? v.tenant_id) as string | undefined;
  if (v.project_id !== undefined && v.tenant_id !== undefined && v.project_id !== v.tenant_id)
    throw httpBadRequest("'project_id' and 'tenant_id' do not match");
  delete v.project_id;
  delete v.tenant_id;
  if (asked === undefined || asked === caller.projectId) return caller.projectId;
  if (!caller.isAdmin)
    throw httpBadRequest(
      "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin or advsvc privileges",
    );
  return asked;
}
