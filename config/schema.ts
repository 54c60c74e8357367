import os from 'node:os';
import path from 'node:path';
import Joi from 'joi';
import { LOG_LEVELS, LogLevel } from '../common/log';

// Option names deliberately keep nova.conf's snake_case spelling so that the
// key an operator writes is the key the code reads.
export interface DefaultSection {
  host: string;
  transport_url: string;
  control_exchange: string;
  state_path: string;
  report_interval: number;
  debug: boolean;
  log_level: LogLevel;
  default_availability_zone: string;
  my_ip: string;
  service_down_time: number;
  cpu_allocation_ratio: number;
  ram_allocation_ratio: number;
  disk_allocation_ratio: number;
}

export interface OsloMessagingRabbitSection {
  amqp_durable_queues: boolean;
  rabbit_quorum_queue: boolean;
}

export interface ComputeSection {
  status_listen: string;
  console_log_max_bytes: number;
  console_log_backups: number;
  stop_timeout: number;
  user_namespace: boolean;
  userns_uid_base: number;
  userns_size: number;
  default_command: string;
  cgroup_parent: string;
  root_disk_templates_gb: number[];
}

export interface ApiSection {
  listen: string;
  auth_strategy: 'noauth2' | 'keystone';
  max_limit: number;
  max_request_body_size: number;
}

export interface ConsoleSection {
  /** seconds a console token stays valid (Nova's [consoleauth] token_ttl) */
  token_ttl: number;
  /** the serial console websocket's base URL ('' = ws://<the API's address>/serial) */
  serialproxy_base_url: string;
  /** where each compute's console endpoint listens and the proxy connects (Nova's [serial_console] proxyclient_address) */
  proxyclient_address: string;
}

export interface SchedulerSection {
  max_attempts: number;
}

export interface FilterSchedulerSection {
  enabled_filters: string[];
  ram_weight_multiplier: number;
  cpu_weight_multiplier: number;
  disk_weight_multiplier: number;
}

export interface QuotaSection {
  instances: number;
  cores: number;
  ram: number;
  metadata_items: number;
  key_pairs: number;
  server_groups: number;
  server_group_members: number;
}

export interface KeystoneAuthtokenSection {
  www_authenticate_uri: string;
  auth_url: string;
  username: string;
  password: string;
  project_name: string;
  user_domain_name: string;
  project_domain_name: string;
}

export interface DatabaseSection {
  connection: string;
}

export interface GlanceSection {
  /** Glance v2 endpoints, tried in turn (Nova's ListOpt); berth api's own /image by default */
  api_servers: string[];
  /**
   * api_servers was set: images live in that Glance, and berth api looks
   * them up there instead of serving its own image API.
   */
  external: boolean;
}

/** The embedded network service (control plane) and each compute's data plane. */
export interface NetworkSection {
  /** the external network `public`, created at the first start */
  public_cidr: string;
  public_gateway: string;
  public_mtu: number;
  /** MTU of tenant networks: the underlay's 1500 less VXLAN's 50 bytes */
  default_mtu: number;
  /** VXLAN network identifiers handed to tenant networks */
  vni_min: number;
  vni_max: number;
  vxlan_port: number;
  /** DNS domain of instance names (Neutron's dns_domain) */
  dns_domain: string;
  /** upstream resolvers for names that are not instances' (empty: none, only instance names resolve) */
  dns_servers: string[];
  /** network namespace that holds this compute's data plane ('' = the compute's own) */
  host_netns: string;
  /** first characters of every device, namespace and nft table the data plane makes */
  device_prefix: string;
  /** link-local range for the legs between the host and router / DNS namespaces */
  uplink_cidr: string;
  /** Neutron's quotas per project (-1 = unlimited) */
  quota_network: number;
  quota_subnet: number;
  quota_port: number;
  quota_router: number;
  quota_floatingip: number;
  quota_security_group: number;
  quota_security_group_rule: number;
}

/** The per-host cache of image blobs and unpacked layers (`<state_path>/images`). */
export interface ImageCacheSection {
  /** size the cache is kept under by evicting unused layers, least recently used first (0 = no cap) */
  max_size_mb: number;
  /** a layer or blob used less than this long ago is never evicted or pruned */
  min_unused_age_s: number;
  /** a layer may expand to at most this many times its compressed size (a decompression bomb guard) */
  unpack_max_ratio: number;
}

/** Where registry images come from (berth image pull, docker_image_ref records). */
export interface RegistrySection {
  /** host:port pairs spoken to over plain HTTP; every other registry is HTTPS */
  insecure_registries: string[];
  /** a Docker / containers auth.json with credentials per registry ('' = none) */
  auth_file: string;
  /** a PEM CA bundle trusted besides the system's ('' = none) */
  ca_file: string;
  /** blob downloads at once, across every pull of a process */
  max_concurrent_downloads: number;
}

export interface BerthConfig {
  DEFAULT: DefaultSection;
  oslo_messaging_rabbit: OsloMessagingRabbitSection;
  compute: ComputeSection;
  api: ApiSection;
  console: ConsoleSection;
  scheduler: SchedulerSection;
  filter_scheduler: FilterSchedulerSection;
  quota: QuotaSection;
  keystone_authtoken: KeystoneAuthtokenSection;
  database: DatabaseSection;
  glance: GlanceSection;
  network: NetworkSection;
  image_cache: ImageCacheSection;
  registry: RegistrySection;
}

export type SectionName = keyof BerthConfig;

// Accept the spellings oslo.config's BoolOpt accepts, so nova.conf habits carry over.
const bool = (fallback: boolean) =>
  Joi.boolean()
    .truthy('yes', '1', 'on')
    .falsy('no', '0', 'off')
    .default(fallback)
    .messages({ 'boolean.base': 'must be a boolean (true/false, yes/no, on/off, 1/0)' });

const integer = (min: number, fallback: number) =>
  Joi.number().integer().min(min).default(fallback);

/** Nova's my_ip default: this host's first non-loopback IPv4 address. */
function firstAddress(): string {
  for (const addresses of Object.values(os.networkInterfaces()))
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

// Port 0 is allowed so tests can ask the kernel for a free port.
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

const hostPort = (fallback: string) =>
  Joi.string()
    .custom((value: string, helpers) => {
      const match = HOST_PORT.exec(value);
      return match && Number(match[2]) <= 65535 ? value : helpers.error('string.hostPort');
    })
    .default(fallback)
    .messages({ 'string.hostPort': 'must be host:port, e.g. 127.0.0.1:8774 or [::1]:8774' });

const ratio = (fallback: number) => Joi.number().greater(0).default(fallback);

// -1 is Nova's "unlimited".
const quotaLimit = (fallback: number) => Joi.number().integer().min(-1).default(fallback);

/** The scheduler filters berth has, in the order they run by default. */
export const SCHEDULER_FILTERS = [
  'ComputeFilter',
  'AvailabilityZoneFilter',
  'ComputeCapabilitiesFilter',
  'ServerGroupAntiAffinityFilter',
  'ServerGroupAffinityFilter',
] as const;

// A comma-separated list, as oslo.config's ListOpt reads it.
function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** A comma-separated list of IPv4 addresses, as oslo.config's ListOpt. */
const ipv4List = () =>
  Joi.string()
    .empty('')
    .custom((value: string, helpers) => {
      const items = splitList(value);
      const bad = items.find(
        (item) =>
          Joi.string()
            .ip({ version: ['ipv4'], cidr: 'forbidden' })
            .validate(item).error,
      );
      return bad === undefined ? items : helpers.error('list.ip', { bad });
    })
    .default([])
    .messages({ 'list.ip': '{#bad} is not an IPv4 address' });

/** A comma-separated list of host:port pairs. */
const hostPortList = () =>
  Joi.string()
    .empty('')
    .custom((value: string, helpers) => {
      const items = splitList(value);
      const bad = items.find((item) => {
        const match = HOST_PORT.exec(item);
        return !match || Number(match[2]) > 65535;
      });
      return bad === undefined ? items : helpers.error('list.hostPort', { bad });
    })
    .default([])
    .messages({ 'list.hostPort': '{#bad} is not host:port, e.g. 127.0.0.1:5000' });

/** Root disk sizes, GiB: a comma-separated list of positive integers. */
const gibList = (fallback: number[]) =>
  Joi.string()
    .empty('')
    .custom((value: string, helpers) => {
      const items = splitList(value);
      const bad = items.find((item) => !/^[1-9][0-9]{0,5}$/.test(item));
      return bad === undefined ? items.map(Number) : helpers.error('list.gib', { bad });
    })
    .default(fallback)
    .messages({ 'list.gib': '{#bad} is not a size in GiB (a positive integer)' });

const list = (allowed: readonly string[], fallback: string[]) =>
  Joi.string()
    .custom((value: string, helpers) => {
      const items = splitList(value);
      const unknown = items.find((item) => !allowed.includes(item));
      return unknown === undefined ? items : helpers.error('list.item', { unknown });
    })
    .default(fallback)
    .messages({ 'list.item': `{#unknown} is not one of ${allowed.join(', ')}` });

/** A comma-separated list of http(s) URLs, as oslo.config's ListOpt. */
const uriList = () =>
  Joi.string()
    .empty('')
    .custom((value: string, helpers) => {
      const items = splitList(value);
      const bad = items.find(
        (item) =>
          Joi.string()
            .uri({ scheme: ['http', 'https'] })
            .validate(item).error,
      );
      return bad === undefined ? items : helpers.error('list.uri', { bad });
    })
    .messages({ 'list.uri': '{#bad} is not an http(s) URL' });

const httpUri = (fallback: string) =>
  Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .default(fallback);

const sections: Record<SectionName, Joi.ObjectSchema> = {
  DEFAULT: Joi.object({
    host: Joi.string().default(() => os.hostname()),
    transport_url: Joi.string().default('rabbit://guest:guest@127.0.0.1:5672/'),
    control_exchange: Joi.string().default('nova'),
    state_path: Joi.string()
      .custom((value: string, helpers) =>
        path.isAbsolute(value) ? value : helpers.error('string.absolute'),
      )
      .default('/var/lib/berth')
      .messages({ 'string.absolute': 'must be an absolute path' }),
    report_interval: integer(1, 10),
    debug: bool(false),
    log_level: Joi.string()
      .valid(...LOG_LEVELS)
      .insensitive()
      .default('info'),
    default_availability_zone: Joi.string().default('nova'),
    my_ip: Joi.string()
      .ip({ cidr: 'forbidden' })
      .default(() => firstAddress()),
    // 0: twice report_interval, filled in by deriveDefaults.
    service_down_time: integer(0, 0),
    cpu_allocation_ratio: ratio(4.0),
    ram_allocation_ratio: ratio(1.0),
    disk_allocation_ratio: ratio(1.0),
  }),
  oslo_messaging_rabbit: Joi.object({
    amqp_durable_queues: bool(false),
    rabbit_quorum_queue: bool(false),
  }),
  compute: Joi.object({
    status_listen: hostPort('127.0.0.1:8780'),
    console_log_max_bytes: integer(4096, 1048576),
    console_log_backups: integer(0, 1).max(10),
    stop_timeout: Joi.number().min(0).default(10),
    user_namespace: bool(false),
    userns_uid_base: integer(1, 100000),
    userns_size: integer(1, 65536),
    default_command: Joi.string().default('/sbin/init'),
    cgroup_parent: Joi.string()
      .pattern(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a cgroup directory name')
      .default('berth'),
    // The default flavors' sizes: their root disks are formatted before the first build asks.
    root_disk_templates_gb: gibList([1, 20, 40, 80, 160]),
  }),
  api: Joi.object({
    listen: hostPort('127.0.0.1:8774'),
    auth_strategy: Joi.string().valid('noauth2', 'keystone').default('noauth2'),
    max_limit: integer(1, 1000),
    max_request_body_size: integer(1024, 114688),
  }),
  console: Joi.object({
    token_ttl: integer(1, 600),
    serialproxy_base_url: Joi.string()
      .uri({ scheme: ['ws', 'wss'] })
      .allow('')
      .default(''),
    proxyclient_address: Joi.string().ip({ cidr: 'forbidden' }).default('127.0.0.1'),
  }),
  scheduler: Joi.object({
    max_attempts: integer(1, 3),
  }),
  filter_scheduler: Joi.object({
    enabled_filters: list(SCHEDULER_FILTERS, [...SCHEDULER_FILTERS]),
    ram_weight_multiplier: Joi.number().default(1.0),
    cpu_weight_multiplier: Joi.number().default(1.0),
    disk_weight_multiplier: Joi.number().default(1.0),
  }),
  quota: Joi.object({
    instances: quotaLimit(10),
    cores: quotaLimit(20),
    ram: quotaLimit(51200),
    metadata_items: quotaLimit(128),
    key_pairs: quotaLimit(100),
    server_groups: quotaLimit(10),
    server_group_members: quotaLimit(10),
  }),
  keystone_authtoken: Joi.object({
    www_authenticate_uri: httpUri('http://127.0.0.1:5000/v3'),
    auth_url: httpUri('http://127.0.0.1:5000/v3'),
    username: Joi.string().default('nova'),
    password: Joi.string().allow('').default(''),
    project_name: Joi.string().default('service'),
    user_domain_name: Joi.string().default('Default'),
    project_domain_name: Joi.string().default('Default'),
  }),
  database: Joi.object({
    // Left unset here: the default depends on state_path, filled in by deriveDefaults.
    connection: Joi.string(),
  }),
  glance: Joi.object({
    // Left unset here: the default is berth api's own image endpoint, filled in by deriveDefaults.
    api_servers: uriList(),
  }),
  network: Joi.object({
    public_cidr: Joi.string()
      .ip({ version: ['ipv4'], cidr: 'required' })
      .default('172.24.4.0/24'),
    public_gateway: Joi.string()
      .ip({ version: ['ipv4'], cidr: 'forbidden' })
      .default('172.24.4.1'),
    public_mtu: integer(68, 1500),
    default_mtu: integer(68, 1450),
    vni_min: integer(1, 1000).max(16777215),
    vni_max: integer(1, 1999).max(16777215),
    vxlan_port: integer(1, 4789).max(65535),
    dns_domain: Joi.string().hostname().default('berth.local'),
    dns_servers: ipv4List(),
    host_netns: Joi.string().allow('').default(''),
    device_prefix: Joi.string()
      .pattern(/^[a-z][a-z0-9]{0,3}$/, 'one to four lowercase letters or digits')
      .default('b'),
    uplink_cidr: Joi.string()
      .ip({ version: ['ipv4'], cidr: 'required' })
      .default('169.254.64.0/18'),
    quota_network: quotaLimit(100),
    quota_subnet: quotaLimit(100),
    quota_port: quotaLimit(500),
    quota_router: quotaLimit(10),
    quota_floatingip: quotaLimit(50),
    quota_security_group: quotaLimit(10),
    quota_security_group_rule: quotaLimit(100),
  }),
  image_cache: Joi.object({
    max_size_mb: integer(0, 20480),
    min_unused_age_s: integer(0, 600),
    unpack_max_ratio: integer(1, 200),
  }),
  registry: Joi.object({
    insecure_registries: hostPortList(),
    auth_file: Joi.string().allow('').default(''),
    ca_file: Joi.string().allow('').default(''),
    max_concurrent_downloads: integer(1, 3),
  }),
};

function mapSections<T>(fn: (schema: Joi.ObjectSchema) => T): Record<SectionName, T> {
  return Object.fromEntries(
    Object.entries(sections).map(([name, schema]) => [name, fn(schema)]),
  ) as Record<SectionName, T>;
}

/** Option names per section, in schema order; the one list env names and the sample follow. */
export const OPTION_NAMES: Readonly<Record<SectionName, readonly string[]>> = mapSections(
  (schema) => Object.keys(schema.describe().keys),
);

function deriveDefaults(config: BerthConfig): BerthConfig {
  const { DEFAULT, database, glance, api } = config;
  return {
    ...config,
    DEFAULT: {
      ...DEFAULT,
      // debug = true means DEBUG logging in oslo.log; mirror that so code only reads log_level.
      log_level: DEFAULT.debug ? 'debug' : DEFAULT.log_level,
      // Two missed heartbeats mark a service down.
      service_down_time: DEFAULT.service_down_time || 2 * DEFAULT.report_interval,
    },
    glance: {
      api_servers: glance.api_servers?.length ? glance.api_servers : [`http://${api.listen}/image`],
      external: Boolean(glance.api_servers?.length),
    },
    // Four slashes after "sqlite:" is SQLAlchemy's absolute-path form, as nova uses.
    database: {
      connection:
        database.connection ?? `sqlite:///${path.posix.join(DEFAULT.state_path, 'berth.sqlite')}`,
    },
  };
}

// Sections default to {} so an absent section still gets its option defaults.
export const berthSchema: Joi.ObjectSchema<BerthConfig> = Joi.object(
  mapSections((schema) => schema.default()),
)
  .default()
  .custom(deriveDefaults);
