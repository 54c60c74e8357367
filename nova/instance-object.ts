/**
 * Nova's Instance object as it arrives over RPC (an oslo.versionedobjects
 * primitive), validated, and turned into what the driver needs.
 */
import Joi from 'joi';
import type { RemoteFault } from '../messaging/failures';
import { InvalidArgumentError } from '../common/errors';
import type { Vif } from './network-model';
import type { TaskState, VmState } from './states';

/** What the driver needs to know of an instance (a view of Nova's Instance object). */
export interface InstanceSpec {
  uuid: string;
  /** instance-%08x, or the display name when there is no id */
  name: string;
  hostname?: string;
  vcpus: number;
  memoryMb: number;
  rootGb: number;
  imageRef: string;
  metadata?: Record<string, string>;
  userData?: string;
  /** the instance's ports, in attach order (eth0, eth1, ...): Nova's network_info */
  networkInfo: Vif[];
}

/** Glance-style image metadata (id, name, properties such as os_command_line). */
export interface ImageMeta {
  id: string;
  name?: string;
  properties?: Record<string, unknown>;
}

/** The newest Instance version this compute understands (Zed). */
export const INSTANCE_VERSION = { major: 2, minor: 7 };
/** Zed's InstanceInfoCache version. */
const INFO_CACHE_VERSION = '1.5';

export interface NovaObject {
  'nova_object.name': string;
  'nova_object.namespace': string;
  'nova_object.version': string;
  'nova_object.data': Record<string, unknown>;
  'nova_object.changes'?: string[];
}

/** A primitive whose version this side cannot read (Nova: IncompatibleObjectVersion). */
export class IncompatibleObjectVersion extends InvalidArgumentError {
  readonly remoteFault: RemoteFault;
  constructor(objname: string, objver: string, supported: string) {
    super(`Version ${objver} of ${objname} is not supported, supported version is ${supported}`);
    this.remoteFault = {
      class: 'IncompatibleObjectVersion',
      kwargs: { objname, objver, supported },
    };
  }
}

const primitive = Joi.object({
  'nova_object.name': Joi.string().required(),
  'nova_object.namespace': Joi.string().valid('nova').required(),
  'nova_object.version': Joi.string()
    .pattern(/^\d+\.\d+$/)
    .required(),
  'nova_object.data': Joi.object().required(),
  'nova_object.changes': Joi.array().items(Joi.string()),
}).unknown(false);

const instanceData = Joi.object({
  uuid: Joi.string().guid().required(),
  id: Joi.number().integer().allow(null),
  vcpus: Joi.number().integer().min(1).required(),
  memory_mb: Joi.number().integer().min(4).required(),
  root_gb: Joi.number().integer().min(0).required(),
  image_ref: Joi.string().allow('', null),
  hostname: Joi.string().allow('', null),
  display_name: Joi.string().allow('', null),
  vm_state: Joi.string().allow(null),
  task_state: Joi.string().allow(null),
  power_state: Joi.number().integer().allow(null),
  metadata: Joi.object().pattern(Joi.string(), Joi.string().allow('')).allow(null),
  user_data: Joi.string().allow('', null),
  info_cache: primitive.allow(null),
}).unknown(true);

// What the driver reads of each VIF; the rest of Nova's model rides along unchecked.
const vifSchema = Joi.object({
  id: Joi.string().required(),
  address: Joi.string().required(),
  network: Joi.object({
    id: Joi.string().required(),
    subnets: Joi.array().items(Joi.object({ ips: Joi.array().required() }).unknown(true)),
  })
    .unknown(true)
    .required(),
}).unknown(true);

export interface InstanceObject {
  uuid: string;
  vmState: VmState | null;
  taskState: TaskState;
  spec: InstanceSpec;
  /** every field as received, echoed back on save */
  data: Record<string, unknown>;
  version: string;
}

function validate<T>(schema: Joi.Schema, value: unknown, what: string): T {
  const { error, value: v } = schema.validate(value, { convert: false });
  if (error) throw new InvalidArgumentError(`${what}: ${error.message}`);
  return v as T;
}

export function parseInstance(value: unknown): InstanceObject {
  const obj = validate<NovaObject>(primitive.required(), value, 'instance');
  if (obj['nova_object.name'] !== 'Instance')
    throw new InvalidArgumentError(
      `instance: expected an Instance object, got ${obj['nova_object.name']}`,
    );
  const [major, minor] = obj['nova_object.version'].split('.').map(Number);
  if (major !== INSTANCE_VERSION.major || minor > INSTANCE_VERSION.minor)
    throw new IncompatibleObjectVersion(
      'Instance',
      obj['nova_object.version'],
      `${INSTANCE_VERSION.major}.${INSTANCE_VERSION.minor}`,
    );
  const data = validate<Record<string, unknown>>(
    instanceData,
    obj['nova_object.data'],
    'instance data',
  );
  const id = typeof data.id === 'number' ? data.id : undefined;
  const uuid = data.uuid as string;
  return {
    uuid,
    vmState: (data.vm_state as VmState) ?? null,
    taskState: (data.task_state as TaskState) ?? null,
    version: obj['nova_object.version'],
    data,
    spec: {
      uuid,
      // Nova's instance_name_template default: instance-%08x
      name: id !== undefined ? `instance-${id.toString(16).padStart(8, '0')}` : `instance-${uuid}`,
      hostname: (data.hostname as string) || undefined,
      vcpus: data.vcpus as number,
      memoryMb: data.memory_mb as number,
      rootGb: data.root_gb as number,
      imageRef: (data.image_ref as string) ?? '',
      metadata: (data.metadata as Record<string, string>) ?? {},
      userData: (data.user_data as string) || undefined,
      networkInfo: parseInfoCache(data.info_cache as NovaObject | null | undefined),
    },
  };
}

/**
 * The VIFs of an Instance's `info_cache`: an InstanceInfoCache whose
 * `network_info` is the VIF list as a JSON string (encoded once more inside
 * the primitive, as Nova's NetworkModel field is). Absent = no ports:
 * action messages carry no info_cache, and a compute keeps what the build gave it.
 */
export function parseInfoCache(cache: NovaObject | null | undefined): Vif[] {
  if (!cache) return [];
  if (cache['nova_object.name'] !== 'InstanceInfoCache')
    throw new InvalidArgumentError(
      `instance info_cache: expected an InstanceInfoCache object, got ${cache['nova_object.name']}`,
    );
  const text = cache['nova_object.data'].network_info;
  if (text === undefined || text === null) return [];
  if (typeof text !== 'string')
    throw new InvalidArgumentError('instance info_cache: network_info is not a JSON string');
  let vifs: unknown;
  try {
    vifs = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(
      `instance info_cache: network_info is not JSON: ${(err as Error).message}`,
    );
  }
  return validate<Vif[]>(Joi.array().items(vifSchema).required(), vifs, 'network_info');
}

/** Nova's InstanceInfoCache primitive for an instance's VIFs. */
export function infoCachePrimitive(instanceUuid: string, vifs: Vif[]): NovaObject {
  return {
    'nova_object.name': 'InstanceInfoCache',
    'nova_object.namespace': 'nova',
    'nova_object.version': INFO_CACHE_VERSION,
    'nova_object.data': {
      instance_uuid: instanceUuid,
      network_info: JSON.stringify(vifs),
      deleted: false,
    },
  };
}

/** The `image` argument of build_and_run_instance: a plain dict of Glance metadata. */
export function parseImage(value: unknown, imageRef: string): ImageMeta {
  if (value === undefined || value === null) return { id: imageRef };
  const image = validate<{ id?: string; name?: string; properties?: Record<string, unknown> }>(
    Joi.object({
      id: Joi.string(),
      name: Joi.string().allow('', null),
      properties: Joi.object(),
    }).unknown(true),
    value,
    'image',
  );
  return {
    id: image.id ?? imageRef,
    name: image.name ?? undefined,
    properties: image.properties ?? {},
  };
}

/** An Instance primitive carrying `changes`, for conductor's object_action save. */
export function instancePrimitive(
  data: Record<string, unknown>,
  changes: string[],
  version = `${INSTANCE_VERSION.major}.${INSTANCE_VERSION.minor}`,
): NovaObject {
  return {
    'nova_object.name': 'Instance',
    'nova_object.namespace': 'nova',
    'nova_object.version': version,
    'nova_object.data': data,
    'nova_object.changes': changes,
  };
}
