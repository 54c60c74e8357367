/**
 * Server create's `networks`, read as Nova reads them (the create schemas
 * per microversion and servers.py _get_requested_networks): a list of
 * `{uuid | port, fixed_ip, tag}`, or from 2.37 the strings `auto` and `none`.
 */
import Joi from 'joi';
import { badRequest } from '../faults';
import type { Microversion } from '../microversion';
import type { RequestedNetwork, RequestedNetworks } from '../network/instance-network';
import { novaTag, UUID_LIKE, validate } from '../validate';

const item = (withTag: boolean) =>
  Joi.object({
    uuid: Joi.string(),
    port: Joi.string().pattern(UUID_LIKE, "'uuid'").allow(null),
    fixed_ip: Joi.string().ip({ cidr: 'forbidden' }),
    ...(withTag
      ? {
          tag: novaTag,
        }
      : {}),
  });

/** Nova allows a tag at 2.32 to 2.36 (an accident it kept) and again from 2.42. */
const tagAllowed = (v: Microversion) => (v.ge('2.32') && v.lt('2.37')) || v.ge('2.42');

function schemaFor(v: Microversion): Joi.Schema {
  const list = Joi.array().items(item(tagAllowed(v)));
  return v.ge('2.37') ? Joi.alternatives(list, Joi.string().valid('none', 'auto')) : list;
}

type NetworkItem = { uuid?: string; port?: string | null; fixed_ip?: string; tag?: string };

/**
 * The request as the network API takes it. Absent (allowed before 2.37)
 * is Nova's default: an empty list, which the network service reads as
 * "the project's only available network, if it has one".
 */
export function parseRequestedNetworks(
  value: unknown,
  v: Microversion,
  maxCount: number,
): RequestedNetworks {
  if (value === undefined) {
    if (v.ge('2.37'))
      throw badRequest(
        "Invalid input for field/attribute server. 'networks' is a required property",
      );
    return [];
  }
  const { networks: parsed } = validate<{ networks: 'auto' | 'none' | NetworkItem[] }>(
    Joi.object({ networks: schemaFor(v) }),
    { networks: value },
  );
  if (typeof parsed === 'string') return parsed;
  const requests = requestList(parsed, v);
  if (maxCount > 1) checkMultipleInstances(requests);
  return requests;
}

function requestList(items: NetworkItem[], v: Microversion): RequestedNetwork[] {
  const ports = new Set<string>();
  return items.map((n) => {
    const tag = n.tag === undefined ? {} : { tag: n.tag };
    if (n.port) {
      if (ports.has(n.port))
        throw badRequest(
          `Port ID '${n.port}' was specified twice: you cannot attach a port multiple times.`,
        );
      if (n.fixed_ip !== undefined)
        throw badRequest(
          `Specified Fixed IP '${n.fixed_ip}' cannot be used with port '${n.port}': the two cannot be specified together.`,
        );
      ports.add(n.port);
      return { port: n.port, ...tag };
    }
    if (n.uuid === undefined) throw badRequest("Bad network format: missing 'uuid'");
    if (!UUID_LIKE.test(n.uuid))
      throw badRequest(
        v.ge('2.37')
          ? `Invalid input for field/attribute uuid. Value: ${n.uuid}. '${n.uuid}' is not a 'uuid'`
          : `Bad networks format: network uuid is not in proper format (${n.uuid})`,
      );
    return { uuid: n.uuid, ...(n.fixed_ip === undefined ? {} : { fixedIp: n.fixed_ip }), ...tag };
  });
}

/** Nova's compute API: one port or one fixed IP cannot go to several instances. */
function checkMultipleInstances(requests: RequestedNetwork[]): void {
  if (requests.some((r) => r.port))
    throw badRequest(
      'Failed to launch instances: Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.',
    );
  if (requests.some((r) => r.fixedIp))
    throw badRequest(
      'Failed to launch instances: max_count cannot be greater than 1 if an fixed_ip is specified.',
    );
}
