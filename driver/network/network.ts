/**
 * The compute side of the Network seam: a port plugged into an instance's
 * network namespace, and the host's bridges, VXLAN forwarding entries,
 * router namespaces, nft rules and DNS kept in step with what the control
 * plane says (HostNetworkState). The real implementation drives netlink and
 * nftables in process (native/); the fake (testing/driver) only records.
 */
import type { HostNetworkState, Vif } from '../../nova/network-model';

export interface PluggedInstance {
  uuid: string;
  hostname: string;
  vifs: Vif[];
}

/** Files the instance's rootfs gets, derived from its ports. */
export interface InstanceNetworkFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

export interface Network {
  /**
   * Creates the instance's network namespace with one interface per vif
   * (eth0, eth1, ... in order) carrying the port's MAC, IPs, MTU and
   * routes, `lo` up, its security groups and anti-spoofing in force, and
   * the host side (bridge, VXLAN) ready. Idempotent per instance; on
   * failure nothing it made is left. Resolves before the workload starts.
   */
  plug(instance: PluggedInstance): Promise<{ netnsPath: string; files: InstanceNetworkFiles }>;
  /** Removes everything the instance's ports made on this host. Idempotent. */
  unplug(instanceUuid: string): Promise<void>;
  /** One more port into a plugged (running or stopped) instance: works at once. */
  attach(instanceUuid: string, vif: Vif): Promise<void>;
  /** Takes the port out of the instance and off the host. Idempotent. */
  detach(instanceUuid: string, portId: string): Promise<void>;
  /**
   * Makes the host match the control plane's document: bridges and VXLAN
   * FDB / neighbour entries, router namespaces with their NAT, floating
   * IPs and port forwardings, security-group member sets, DNS records.
   * Idempotent; removes what the document no longer names.
   */
  sync(state: HostNetworkState): Promise<void>;
  /**
   * At start: finds what survived (pinned namespaces, devices, rules) and
   * rebuilds what is missing for these instances, so a compute on a host
   * whose bridges and rules are gone restores them.
   */
  restore(instances: PluggedInstance[]): Promise<void>;
  /** the plugged instances this host knows of (from its state directory) */
  pluggedInstances(): Promise<string[]>;
  close(): Promise<void>;
}
