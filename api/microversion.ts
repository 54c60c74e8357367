/**
 * Compute API microversions: what a request asked for (either header
 * spelling), checked against the range berth implements, echoed back so
 * that novaclient does not warn.
 */
import { badRequest, notAcceptable } from './faults';

export const MIN_VERSION = '2.1';
/** novaclient sends its maximum, 2.92, for `2.latest` without asking first. */
export const MAX_VERSION = '2.92';

export class Microversion {
  constructor(
    readonly major: number,
    readonly minor: number,
  ) {}

  static parse(text: string): Microversion | undefined {
    const m = /^(\d+)\.(\d+)$/.exec(text.trim());
    return m ? new Microversion(Number(m[1]), Number(m[2])) : undefined;
  }

  /** true when this version is at least `v` ("2.47") */
  ge(v: string): boolean {
    const o = Microversion.parse(v)!;
    return this.major > o.major || (this.major === o.major && this.minor >= o.minor);
  }

  lt(v: string): boolean {
    return !this.ge(v);
  }

  toString(): string {
    return `${this.major}.${this.minor}`;
  }
}

const MIN = Microversion.parse(MIN_VERSION)!;
const MAX = Microversion.parse(MAX_VERSION)!;

/**
 * The version a request is served at. `OpenStack-API-Version: compute X.Y`
 * wins over `X-OpenStack-Nova-API-Version`, as in Nova; no header means
 * the minimum.
 */
export function requestedVersion(headers: Record<string, string | string[] | undefined>) {
  const one = (h: string | string[] | undefined) => (Array.isArray(h) ? h.join(',') : h);
  let text: string | undefined;
  const generic = one(headers['openstack-api-version']);
  if (generic) {
    for (const part of generic.split(',')) {
      const [service, value] = part.trim().split(/\s+/, 2);
      if (service?.toLowerCase() === 'compute' && value) text = value;
    }
  }
  text ??= one(headers['x-openstack-nova-api-version']);
  if (!text) return MIN;
  if (text.trim().toLowerCase() === 'latest') return MAX;
  const v = Microversion.parse(text);
  if (!v) throw badRequest(`Invalid API version request string: ${text}`);
  if (v.lt(MIN.toString()) || MAX.lt(v.toString()))
    throw notAcceptable(
      `Version ${v} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`,
    );
  return v;
}
