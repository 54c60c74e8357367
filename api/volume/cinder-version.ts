/**
 * Cinder's version discovery and microversions: `OpenStack-API-Version:
 * volume 3.X` (or the legacy header) within 3.0..MAX, echoed back.
 */
import type { Request } from 'express';
import { badRequest, notAcceptable } from '../faults';
import { Microversion } from '../microversion';

export const VOLUME_MIN_VERSION = '3.0';
/** What berth implements: through 3.60 (volumes list filtered by time is the last). */
export const VOLUME_MAX_VERSION = '3.60';

export function v3Doc(base: string) {
  return {
    id: 'v3.0',
    status: 'CURRENT',
    version: VOLUME_MAX_VERSION,
    min_version: VOLUME_MIN_VERSION,
    updated: '2020-09-15T00:00:00Z',
    links: [
      { rel: 'describedby', type: 'text/html', href: 'https://docs.openstack.org/' },
      { rel: 'self', href: `${base}/v3/` },
    ],
    'media-types': [
      { base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' },
    ],
  };
}

export function volumeVersion(req: Request): Microversion {
  let text: string | undefined;
  for (const part of (req.get('openstack-api-version') ?? '').split(',')) {
    const [service, value] = part.trim().split(/\s+/, 2);
    if (service?.toLowerCase() === 'volume' && value) text = value;
  }
  text ??= req.get('openstack-volume-api-version');
  if (!text) return Microversion.parse(VOLUME_MIN_VERSION)!;
  if (text.trim().toLowerCase() === 'latest') return Microversion.parse(VOLUME_MAX_VERSION)!;
  const v = Microversion.parse(text);
  if (!v) throw badRequest(`Invalid API version request string: ${text}`);
  if (v.lt(VOLUME_MIN_VERSION) || Microversion.parse(VOLUME_MAX_VERSION)!.lt(v.toString()))
    throw notAcceptable(
      `Version ${v} is not supported by the API. Minimum is ${VOLUME_MIN_VERSION} and maximum is ${VOLUME_MAX_VERSION}.`,
    );
  return v;
}
