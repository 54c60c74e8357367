/**
 * The network service's typed errors: Neutron's exception type names,
 * status codes and messages, so that a client reading
 * `{"NeutronError": {"type", "message", "detail"}}` sees what a real
 * Neutron would say. Each is also a BerthError of the matching kind, so
 * the compute API maps them to Nova's faults without reading text.
 */
import { BerthError } from '../../common/errors';

const KIND_OF_STATUS: Record<number, string> = {
  400: 'InvalidArgument',
  403: 'InvalidArgument',
  404: 'NotFound',
  409: 'Conflict',
  412: 'Conflict',
  503: 'Unavailable',
};

export class NeutronError extends BerthError {
  readonly kind: string;
  constructor(
    readonly status: number,
    /** Neutron's exception class name, e.g. NetworkNotFound */
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.kind = type === 'OverQuota' ? 'ResourceExhausted' : (KIND_OF_STATUS[status] ?? 'Internal');
  }

  body() {
    return { NeutronError: { type: this.type, message: this.message, detail: '' } };
  }
}

export const httpBadRequest = (message: string) => new NeutronError(400, 'HTTPBadRequest', message);
export const invalidAttribute = (attr: string, reason: string) =>
  httpBadRequest(`Invalid input for ${attr}. Reason: ${reason}.`);
export const invalidInput = (message: string) =>
  new NeutronError(400, 'InvalidInput', `Invalid input for operation: ${message}.`);
/** neutron_lib.exceptions.BadRequest: "Bad <resource> request: <msg>." */
export const badResourceRequest = (resource: string, message: string) =>
  new NeutronError(400, 'BadRequest', `Bad ${resource} request: ${message}.`);
export const httpNotFound = () =>
  new NeutronError(404, 'HTTPNotFound', 'The resource could not be found.');
export const policyNotAuthorized = (rule: string) =>
  new NeutronError(403, 'PolicyNotAuthorized', `${rule} is disallowed by policy`);
export const overQuota = (resource: string) =>
  new NeutronError(409, 'OverQuota', `Quota exceeded for resources: ['${resource}'].`);

/** The NotFound of each resource, worded as Neutron words it. */
export const NOT_FOUND: Record<string, (id: string) => NeutronError> = {
  network: (id) => new NeutronError(404, 'NetworkNotFound', `Network ${id} could not be found.`),
  subnet: (id) => new NeutronError(404, 'SubnetNotFound', `Subnet ${id} could not be found.`),
  port: (id) => new NeutronError(404, 'PortNotFound', `Port ${id} could not be found.`),
  security_group: (id) =>
    new NeutronError(404, 'SecurityGroupNotFound', `Security group ${id} does not exist`),
  security_group_rule: (id) =>
    new NeutronError(404, 'SecurityGroupRuleNotFound', `Security group rule ${id} does not exist`),
  router: (id) => new NeutronError(404, 'RouterNotFound', `Router ${id} could not be found`),
  floatingip: (id) =>
    new NeutronError(404, 'FloatingIPNotFound', `Floating IP ${id} could not be found`),
  port_forwarding: (id) =>
    new NeutronError(404, 'PortForwardingNotFound', `Port Forwarding ${id} could not be found.`),
};

export const ipAlreadyAllocated = (ip: string, subnetId: string) =>
  new NeutronError(
    409,
    'IpAddressAlreadyAllocated',
    `IP address ${ip} already allocated in subnet ${subnetId}`,
  );
export const invalidIpForSubnet = (ip: string) =>
  new NeutronError(
    400,
    'InvalidIpForSubnet',
    `IP address ${ip} is not a valid IP for the specified subnet.`,
  );
export const invalidIpForNetwork = (ip: string) =>
  new NeutronError(
    400,
    'InvalidIpForNetwork',
    `IP address ${ip} is not a valid IP for any of the subnets on the specified network.`,
  );
export const ipGenerationFailure = (networkId: string) =>
  new NeutronError(
    409,
    'IpAddressGenerationFailure',
    `No more IP addresses available on network ${networkId}.`,
  );
export const portInUse = (portId: string, networkId: string, deviceId: string) =>
  new NeutronError(
    409,
    'PortInUse',
    `Unable to complete operation on port ${portId} for network ${networkId}. Port already has an attached device ${deviceId}.`,
  );
export const externalGatewayNotFound = (networkId: string, subnetId: string, portId: string) =>
  new NeutronError(
    404,
    'ExternalGatewayForFloatingIPNotFound',
    `External network ${networkId} is not reachable from subnet ${subnetId}.  Therefore, cannot associate Port ${portId} with a Floating IP.`,
  );
