/**
 * The flavor resource as Nova's view builder shapes it
 * (nova/api/openstack/compute/views/flavors.py), per microversion.
 */
import type { Microversion } from '../microversion';
import { extraSpecsOf, type FlavorRow } from '../db/flavors';

export function flavorLinks(base: string, flavorId: string) {
  return [
    { href: `${base}/v2.1/flavors/${flavorId}`, rel: 'self' },
    { href: `${base}/flavors/${flavorId}`, rel: 'bookmark' },
  ];
}

/** GET /flavors: id, name, links (and description from 2.55). */
export function flavorBrief(f: FlavorRow, base: string, v: Microversion) {
  const view: Record<string, unknown> = {
    id: f.flavorid,
    name: f.name,
    links: flavorLinks(base, f.flavorid),
  };
  if (v.ge('2.55')) view.description = f.description;
  return view;
}

/**
 * GET /flavors/detail, show, create, update. swap is "" for none before
 * 2.75; extra_specs appear from 2.61 (every caller may read them by
 * default policy).
 */
export function flavorDetail(f: FlavorRow, base: string, v: Microversion) {
  const view: Record<string, unknown> = {
    id: f.flavorid,
    name: f.name,
    ram: f.memory_mb,
    disk: f.root_gb,
    swap: v.ge('2.75') ? f.swap || 0 : f.swap || '',
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral_gb,
    'OS-FLV-DISABLED:disabled': Boolean(f.disabled),
    vcpus: f.vcpus,
    'os-flavor-access:is_public': Boolean(f.is_public),
    rxtx_factor: f.rxtx_factor || '',
    links: flavorLinks(base, f.flavorid),
  };
  if (v.ge('2.55')) view.description = f.description;
  if (v.ge('2.61')) view.extra_specs = extraSpecsOf(f);
  return view;
}
