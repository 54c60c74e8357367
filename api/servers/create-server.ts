/**
 * Server create (Nova's compute/api.py create): what the request names is
 * looked up and checked, quota is claimed with the instance rows, the
 * instances' ports are allocated, and scheduling starts once the caller
 * has its answer. A request that fails leaves nothing behind: no row, no port.
 */
import { computeServices } from '../db/services';
import { randomUUID } from 'node:crypto';
import { UnavailableError } from '../../common/errors';
import { TaskState, VmState } from '../../nova/states';
import { rpcContext, type ApiContext } from '../context';
import { findFlavor, flavorSnapshot, type FlavorRow } from '../db/flavors';
import { getInstance, type RequestSpec } from '../db/instances';
import { recordAction } from '../db/instance-actions';
import { getKeypair } from '../db/keypairs';
import { checkMetadataQuota, checkQuota, checkServerGroupMembers } from '../db/quotas';
import { getGroup } from '../db/server-groups';
import type { ApiDeps } from '../deps';
import { badRequest } from '../faults';
import { now } from '../http';
import type { ImageRecord } from '../../driver/image/image-service';
import { imagesFor } from '../image/external-glance';
import { canSee } from '../image/image-policy';
import type { RequestedNetworks } from '../network/instance-network';
import { instanceOwner, networkCaller } from './instance-ports';
import { canonicalIPv6 } from './access-ips';
import { networkFault, type RequestSubjects } from './network-faults';
import { attachmentsOfInstance, type VolumeRow } from '../volume/store';
import {
  checkRequestedVolumes,
  newVolumes,
  reserveVolumes,
  rootVolumeOf,
  type BlockDevices,
} from './block-devices';
import { imageMetadataOf } from '../volume/volume-service';
import { releaseAttachment } from './volume-attachments';

/** The create request once the route has parsed it. */
export interface CreateRequest {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the validated server body
  server: Record<string, any>;
  minCount: number;
  maxCount: number;
  networks: RequestedNetworks;
  /** security group names (Nova de-duplicates them) */
  securityGroups: string[];
  hints: Record<string, unknown>;
  blockDevices: BlockDevices;
}

interface Resolved {
  flavor: FlavorRow;
  imageId: string;
  /** booted from a volume: the root image's volume_image_metadata (new root) or {} (existing) */
  rootImage?: Record<string, string>;
  /** the existing volumes block_device_mapping_v2 names */
  volumes: VolumeRow[];
  group?: { uuid: string; policy: string };
  keyData?: string;
}

export async function createServers(
  deps: ApiDeps,
  ctx: ApiContext,
  req: CreateRequest,
): Promise<{ uuids: string[]; reservationId: string }> {
  const resolved = await resolve(deps, ctx, req);
  const subjects = subjectsOf(req, ctx);
  await deps.instanceNetwork
    .validateRequested(networkCaller(ctx), req.networks, req.securityGroups)
    .catch((err) => {
      throw networkFault(err, 'create', subjects);
    });
  const reservationId = `r-${randomUUID().slice(0, 8)}`;
  const uuids = await insertInstances(deps, ctx, req, resolved, reservationId);
  try {
    await allocatePorts(deps, ctx, req, uuids);
  } catch (err) {
    await forget(deps, uuids);
    throw networkFault(err, 'create', subjects);
  }
  deps.builds.scheduleLater(uuids, rpcContext(ctx));
  return { uuids, reservationId };
}

const subjectsOf = (req: CreateRequest, ctx: ApiContext): RequestSubjects => ({
  networks: typeof req.networks === 'string' ? [] : req.networks,
  securityGroups: req.securityGroups,
  projectId: ctx.projectId,
});

async function resolve(deps: ApiDeps, ctx: ApiContext, req: CreateRequest): Promise<Resolved> {
  const { db, config } = deps;
  const s = req.server;
  const flavor = await findFlavor(db, String(s.flavorRef), { ctx, asBadRequest: true });
  if (flavor.disabled) throw badRequest(`Flavor ${flavor.flavorid} could not be found.`);
  const volumes = await checkRequestedVolumes(deps.volumes, ctx, req.blockDevices.volumes, {
    min: req.minCount,
    max: req.maxCount,
  });
  const root = rootVolumeOf(req.blockDevices);
  // A root volume boots its own image: the one it is made from, or the one it was made from.
  const bdmImage =
    req.blockDevices.imageId ??
    root?.imageId ??
    volumes.find((v) => v.id === root?.volumeId)?.image_metadata?.image_id;
  if (s.imageRef && bdmImage && s.imageRef !== bdmImage)
    throw badRequest(
      `Block Device Mapping is Invalid: the root disk's image ${bdmImage} is not imageRef ${s.imageRef}.`,
    );
  const imageRef: string | undefined = s.imageRef || bdmImage;
  if (!imageRef) throw badRequest('Missing imageRef attribute');
  const image = await imagesFor(deps, ctx)
    .show(imageRef)
    .catch((err: unknown) => {
      // An image service that cannot answer is not a missing image: 503, not 400.
      if (err instanceof UnavailableError) throw err;
      return undefined;
    });
  // Glance does not show another project's private image; Nova then says it was not found.
  if (!image || !canSee(image, ctx)) throw badRequest(`Image ${imageRef} could not be found.`);
  if (image.status !== 'active') throw badRequest(`Image ${image.id} is not active.`);
  checkFlavorFitsImage(flavor, image, root);
  await checkMetadataQuota(db, config, ctx.projectId, Object.keys(s.metadata ?? {}).length);
  const group =
    typeof req.hints.group === 'string'
      ? await getGroup(db, req.hints.group, ctx, { asBadRequest: true })
      : undefined;
  // A key pair is its user's: another user's name is as unknown as a made-up one.
  const keypair =
    s.key_name === undefined ? undefined : await getKeypair(db, ctx.userId, s.key_name);
  if (s.key_name !== undefined && !keypair) throw badRequest('Invalid key_name provided.');
  const zone: string | undefined = s.availability_zone;
  if (zone !== undefined) {
    const known = (await computeServices(db)).some((c) => c.availability_zone === zone);
    if (!known && zone !== config.DEFAULT.default_availability_zone)
      throw badRequest(`The requested availability zone is not available`);
  }
  return {
    flavor,
    imageId: image.id,
    rootImage: root && (root.imageId ? imageMetadataOf(image) : {}),
    volumes,
    group: group ? { uuid: group.uuid, policy: group.policy } : undefined,
    keyData: keypair?.public_key,
  };
}

const GiB = 1024 ** 3;

/**
 * Nova's _validate_flavor_image_nostatus: the flavor holds the image's
 * min_ram, and its root disk the image's min_disk and the image itself
 * (a flavor without a root disk, root_gb 0, is not checked, as Nova). A
 * root volume is the disk instead: a new one must hold the image's min_disk.
 */
function checkFlavorFitsImage(
  flavor: FlavorRow,
  image: ImageRecord,
  root: { size?: number } | undefined,
): void {
  if ((image.min_ram ?? 0) > flavor.memory_mb)
    throw badRequest("Flavor's memory is too small for requested image.");
  if (root?.size !== undefined && (image.min_disk ?? 0) > root.size)
    throw badRequest(
      `Volume is smaller than the minimum size specified in image metadata. Volume size is ${root.size * GiB} bytes, minimum size is ${image.min_disk * GiB} bytes.`,
    );
  if (flavor.root_gb === 0 || root) return;
  const disk = flavor.root_gb * GiB;
  if ((image.size ?? 0) > disk)
    throw badRequest(
      `Flavor's disk is too small for requested image. Flavor disk is ${disk} bytes, image is ${image.size} bytes.`,
    );
  if ((image.min_disk ?? 0) * GiB > disk)
    throw badRequest(
      `Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is ${disk} bytes, minimum size is ${image.min_disk * GiB} bytes.`,
    );
}

async function insertInstances(
  deps: ApiDeps,
  ctx: ApiContext,
  req: CreateRequest,
  r: Resolved,
  reservationId: string,
): Promise<string[]> {
  const { config } = deps;
  const s = req.server;
  const spec: RequestSpec = {
    availability_zone: s.availability_zone,
    group: r.group,
    scheduler_hints: req.hints,
    networks: req.networks,
    security_groups: req.securityGroups.length ? req.securityGroups : ['default'],
  };
  const blanks = newVolumes(req.blockDevices.volumes, r.rootImage);
  if (blanks.length) spec.blank_volumes = blanks;
  // Nova keeps no image on a volume-backed instance: it boots what its root volume holds.
  if (r.rootImage) spec.boot_image = r.imageId;
  const t = now();
  const uuids: string[] = [];
  await deps.db.transaction(async (trx) => {
    const count = await checkQuota(
      trx,
      config,
      { projectId: ctx.projectId, userId: ctx.userId },
      { instances: 1, cores: r.flavor.vcpus, ram: r.flavor.memory_mb },
      { min: req.minCount, max: req.maxCount },
    );
    if (r.group) await checkServerGroupMembers(trx, config, ctx.projectId, r.group.uuid, count);
    for (let n = 0; n < count; n++) {
      const uuid = randomUUID();
      const displayName = count > 1 ? `${s.name}-${n + 1}` : s.name;
      await trx('instances').insert({
        uuid,
        project_id: ctx.projectId,
        user_id: ctx.userId,
        display_name: displayName,
        display_description: s.description ?? null,
        hostname: s.hostname ?? hostnameFrom(displayName, uuid),
        availability_zone: s.availability_zone ?? null,
        flavorid: r.flavor.flavorid,
        flavor: JSON.stringify(flavorSnapshot(r.flavor)),
        image_ref: r.rootImage ? '' : r.imageId,
        key_name: s.key_name ?? null,
        auto_disk_config: s['OS-DCF:diskConfig'] === 'AUTO',
        key_data: r.keyData ?? null,
        vm_state: VmState.BUILDING,
        task_state: TaskState.SCHEDULING,
        power_state: 0,
        metadata: JSON.stringify(s.metadata ?? {}),
        tags: JSON.stringify(s.tags ?? []),
        user_data: s.user_data ?? null,
        access_ip_v4: s.accessIPv4 ?? '',
        access_ip_v6: s.accessIPv6 ? canonicalIPv6(s.accessIPv6) : '',
        reservation_id: reservationId,
        launch_index: n,
        request_spec: JSON.stringify(spec),
        created_at: t,
        updated_at: t,
      });
      if (r.group)
        await trx('server_group_members').insert({ group_uuid: r.group.uuid, instance_uuid: uuid });
      await reserveVolumes(trx, uuid, req.blockDevices.volumes, r.volumes);
      await recordAction(trx, uuid, 'create', ctx);
      uuids.push(uuid);
    }
  });
  return uuids;
}

/**
 * Each instance's ports, made before the 202 so that an address conflict
 * or an exhausted pool fails the request (Nova would find out on the
 * compute and leave an ERROR instance). Tags of requested networks are
 * remembered per port for os-interface (2.70).
 */
async function allocatePorts(
  deps: ApiDeps,
  ctx: ApiContext,
  req: CreateRequest,
  uuids: string[],
): Promise<void> {
  for (const uuid of uuids) {
    const inst = await getInstance(deps.db, uuid);
    if (!inst) continue; // deleted already
    const vifs = await deps.instanceNetwork.allocateForInstance(
      networkCaller(ctx),
      instanceOwner(inst),
      req.networks,
      req.securityGroups,
    );
    const tags = portTags(
      req.networks,
      vifs.map((v) => v.id),
    );
    if (Object.keys(tags).length)
      await deps
        .db('instances')
        .where({ uuid })
        .update({ request_spec: JSON.stringify({ ...inst.request_spec, port_tags: tags }) });
    // A delete that came while the ports were made found none to release.
    if (!(await getInstance(deps.db, uuid))) await deps.instanceNetwork.deallocateForInstance(uuid);
  }
}

/** The allocated ports come in the order of the requested networks. */
function portTags(networks: RequestedNetworks, portIds: string[]): Record<string, string> {
  if (typeof networks === 'string') return {};
  return Object.fromEntries(
    networks.flatMap((r, n) => (r.tag !== undefined && portIds[n] ? [[portIds[n], r.tag]] : [])),
  );
}

/** Undoes an accepted request that could not get its ports: its ports, rows and records go. */
async function forget(deps: ApiDeps, uuids: string[]): Promise<void> {
  for (const uuid of uuids)
    await deps.instanceNetwork.deallocateForInstance(uuid).catch((err: Error) =>
      deps.log.error('ports of a refused server not released', {
        instance_uuid: uuid,
        error: err.message,
      }),
    );
  for (const uuid of uuids)
    for (const a of await attachmentsOfInstance(deps.db, uuid)) await releaseAttachment(deps.db, a);
  await deps.db.transaction(async (trx) => {
    await trx('server_group_members').whereIn('instance_uuid', uuids).delete();
    await trx('instance_actions').whereIn('instance_uuid', uuids).delete();
    await trx('instances').whereIn('uuid', uuids).delete();
  });
}

/** Nova's default hostname: the display name sanitised to a DNS label. */
function hostnameFrom(displayName: string, uuid: string): string {
  const h = displayName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return h || `server-${uuid}`;
}
