/**
 * The network service's errors (Neutron's exception types) as Nova's API
 * answers them: server create says 400 for what it cannot find (the
 * request is bad), os-interface says 404; a port in use is 409 for both.
 * Nova's messages name the port, network or group; the network service's
 * errors carry only their own text, so the subject is taken from the
 * request when it names exactly one, and Neutron's words are kept otherwise.
 */
import { BerthError } from '../../common/errors';
import {
  ApiFault,
  badRequest,
  conflictingRequest,
  forbidden,
  itemNotFound,
  toApiFault,
} from '../faults';
import type { RequestedNetwork } from '../network/instance-network';
import { NeutronError } from '../network/errors';

export type NetworkOperation = 'create' | 'attach';

/** What the request named, for Nova's messages. */
export interface RequestSubjects {
  networks: RequestedNetwork[];
  securityGroups: string[];
  /** the project a create asks for (Nova's SecurityGroupNotFoundForProject names it) */
  projectId?: string;
}

const only = (values: (string | undefined)[]) => {
  const named = [...new Set(values.filter((v): v is string => v !== undefined))];
  return named.length === 1 ? named[0] : undefined;
};

export function networkFault(
  err: unknown,
  op: NetworkOperation,
  subjects: RequestSubjects,
): ApiFault {
  if (!(err instanceof BerthError)) return toApiFault(err);
  const type = (err as { type?: unknown }).type;
  const notFound = op === 'create' ? badRequest : itemNotFound;
  const port = only(subjects.networks.map((r) => r.port));
  const network = only(subjects.networks.map((r) => r.uuid));
  const group = only(subjects.securityGroups);
  switch (type) {
    case 'NetworkNotFound':
      return notFound(network ? `Network ${network} could not be found.` : err.message);
    case 'PortNotFound':
      return notFound(port ? `Port id ${port} could not be found.` : err.message);
    case 'SecurityGroupNotFound':
      if (!group) return badRequest(err.message);
      return badRequest(
        subjects.projectId
          ? `Security group ${group} not found for project ${subjects.projectId}.`
          : `Security group ${group} not found.`,
      );
    case 'PortInUse':
      return conflictingRequest(port ? `Port ${port} is still in use.` : err.message);
    // Nova's FixedIpAlreadyInUse: a bad request on create, a conflict on attach.
    case 'IpAddressAlreadyAllocated':
      return (op === 'create' ? badRequest : conflictingRequest)(err.message);
    case 'IpAddressGenerationFailure':
      return badRequest(
        network ? `No fixed IP addresses available for network: ${network}` : err.message,
      );
    // Nova: a conflict for server create, a bad request for os-interface.
    case 'NetworkAmbiguous':
      return (op === 'create' ? conflictingRequest : badRequest)(
        'Multiple possible networks found, use a Network ID to be more specific.',
      );
    case 'OverQuota':
      return forbidden('Maximum number of ports exceeded');
  }
  if (err.kind === 'NotFound') return notFound(err.message);
  return toApiFault(err);
}

/**
 * How Nova's proxy APIs (os-security-groups, os-floating-ips, ...) answer
 * the network service's errors: its bad input is Nova's 400, its NotFound
 * Nova's 404, its policy refusal a 403, and its conflicts what each Nova
 * call makes of them (`conflict`).
 */
export async function proxied<T>(
  fn: () => Promise<T>,
  conflict: (message: string, err: NeutronError) => ApiFault = conflictingRequest,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof NeutronError)) throw err;
    if (err.status === 409) throw conflict(err.message, err);
    if (err.status === 403) throw forbidden(err.message);
    if (err.status === 404) throw itemNotFound(err.message);
    if (err.status === 400) throw badRequest(err.message);
    throw err;
  }
}
