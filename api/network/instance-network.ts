/**
 * What the compute API and the conductor ask of the embedded network
 * service (Nova's nova.network.neutron.API, in process): ports for a
 * server's requested networks, their binding to the chosen host, the
 * network info the compute gets, interfaces attached and detached, and the
 * addresses that server views show.
 *
 * Errors are the network service's typed errors (api/network/errors.ts);
 * the compute API maps them to Nova's faults (400 NetworkNotFound,
 * 409 PortInUse / FixedIpAlreadyInUse, 403 quota, ...).
 */
import type { Vif } from '../../nova/network-model';

/** One entry of server create's `networks` list (Nova's NetworkRequest). */
export interface RequestedNetwork {
  /** network id */
  uuid?: string;
  /** an existing port the user made */
  port?: string;
  /** a fixed IP on `uuid` */
  fixedIp?: string;
  tag?: string;
}

/** `auto` = get-me-a-network; `none` = no port at all. */
export type RequestedNetworks = 'auto' | 'none' | RequestedNetwork[];

/** Whose ports these are. */
export interface NetworkCaller {
  projectId: string;
  userId: string;
  isAdmin: boolean;
  requestId: string;
}

export interface InstanceOwner {
  uuid: string;
  projectId: string;
  userId: string;
  /** the instance's hostname: the ports' dns_name */
  hostname: string;
  availabilityZone: string | null;
}

export interface InstanceNetworkApi {
  /**
   * Checks, before the server is accepted, that every requested network
   * and port exists for the caller and is usable (port not in use, fixed IP
   * inside a subnet and free) and that the security groups (names or ids)
   * exist. Throws the network service's errors; changes nothing.
   */
  validateRequested(
    caller: NetworkCaller,
    requested: RequestedNetworks,
    securityGroups: string[],
  ): Promise<void>;
  /**
   * Creates the instance's ports (device_id = uuid, device_owner
   * compute:<az>, status DOWN) or claims the given ones; `auto` first
   * makes the project's network with a router to `public` if it has none.
   * All or nothing: on failure no port it made survives.
   */
  allocateForInstance(
    caller: NetworkCaller,
    owner: InstanceOwner,
    requested: RequestedNetworks,
    securityGroups: string[],
  ): Promise<Vif[]>;
  /**
   * binding:host_id of every port of the instance ('' unbinds them: an
   * offloaded instance); returns the network info for the compute
   */
  bindForHost(instanceUuid: string, host: string): Promise<Vif[]>;
  /** deletes the ports it created for the instance, unbinds and frees the ones the user gave */
  deallocateForInstance(instanceUuid: string): Promise<void>;
  /** one more port (os-interface create), bound to `host` */
  attachInterface(
    caller: NetworkCaller,
    owner: InstanceOwner,
    requested: RequestedNetwork,
    host: string | null,
  ): Promise<Vif>;
  /** throws PortNotFound when the port is not the instance's */
  detachInterface(instanceUuid: string, portId: string): Promise<void>;
  /** the instance's ports as network info (with floating IPs), in attach order */
  networkInfo(instanceUuid: string): Promise<Vif[]>;
  /** networkInfo for many instances at once (server lists) */
  networkInfoFor(instanceUuids: string[]): Promise<Map<string, Vif[]>>;
}
