/** What the API's routers are built from; one object so that tests can wire fakes. */
import type { Logger } from 'winston';
import type { BerthConfig } from '../config/schema';
import type { GlanceImageService } from '../driver/image/glance-image-service';
import type { ImageService } from '../driver/image/image-service';
import type { Database } from './db/connection';
import type { ComputeRpcAPI } from './compute-rpc';
import type { BuildCoordinator } from './conductor/build';
import type { InstanceNetworkApi } from './network/instance-network';
import type { NetworkService } from './network/network-service';
import type { Scheduler } from './scheduler/scheduler';
import type { VolumeService } from './volume/volume-service';

export interface ApiDeps {
  config: BerthConfig;
  db: Database;
  log: Logger;
  /**
   * the image store the embedded image API serves and servers boot from;
   * with an external Glance, that Glance as the service (for background work)
   */
  images: ImageService;
  /** [glance] api_servers set: the real Glance, asked as each caller (api/image/external-glance.ts) */
  glance?: GlanceImageService;
  compute: ComputeRpcAPI;
  scheduler: Scheduler;
  /** schedules accepted servers and reschedules failed builds */
  builds: BuildCoordinator;
  /** the embedded network service (Neutron's model) the network API serves */
  network: NetworkService;
  /** what server create, delete and os-interface ask of the network service */
  instanceNetwork: InstanceNetworkApi;
  /** the embedded block-storage service (Cinder's model) the volume API serves */
  volumes: VolumeService;
}
