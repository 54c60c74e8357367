/** What every planner needs to know of this host. */
import type { Netns } from '../../native';

export interface PlanContext {
  /** `[network] device_prefix` */
  prefix: string;
  /** `[network] host_netns` (null: the compute's own namespace) */
  hostNs: Netns;
  /** `[DEFAULT] my_ip`: the local VXLAN endpoint */
  localIp: string;
  vxlanPort: number;
  /** `<state_path>/network` */
  stateDir: string;
}
