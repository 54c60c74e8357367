/**
 * /servers/{id}/os-interface: the server's ports (list, show), attach
 * (`openstack server add network / port`) and detach (`server remove
 * network / port`), as Nova's attach_interfaces.py answers them.
 */
import { Router } from 'express';
import Joi from 'joi';
import { ctxOf } from '../context';
import type { ApiDeps } from '../deps';
import { badRequest, itemNotFound } from '../faults';
import { route } from '../http';
import type { Microversion } from '../microversion';
import type { RequestedNetwork } from '../network/instance-network';
import { attachInterface, detachInterface } from '../servers/interfaces';
import { novaTag, UUID_LIKE, validate } from '../validate';
import { interfaceAttachment } from '../views/interfaces';
import { findServer } from './server-lookup';

const uuid = Joi.string().pattern(UUID_LIKE, "'uuid'");

const createSchema = (v: Microversion) =>
  Joi.object({
    interfaceAttachment: Joi.object({
      net_id: uuid,
      port_id: uuid,
      fixed_ips: Joi.array()
        .min(1)
        .max(1)
        .items(Joi.object({ ip_address: Joi.string().ip({ cidr: 'forbidden' }).required() })),
      ...(v.ge('2.49')
        ? {
            tag: novaTag,
          }
        : {}),
    }),
  });

interface CreateBody {
  interfaceAttachment?: {
    net_id?: string;
    port_id?: string;
    fixed_ips?: { ip_address: string }[];
    tag?: string;
  };
}

function requestedOf(body: CreateBody): RequestedNetwork {
  const a = body.interfaceAttachment ?? {};
  const fixedIp = a.fixed_ips?.[0].ip_address;
  if (a.net_id && a.port_id) throw badRequest('Must not input both network_id and port_id');
  if (fixedIp && !a.net_id) throw badRequest('Must input network_id when request IP address');
  return {
    ...(a.net_id ? { uuid: a.net_id } : {}),
    ...(a.port_id ? { port: a.port_id } : {}),
    ...(fixedIp ? { fixedIp } : {}),
    ...(a.tag !== undefined ? { tag: a.tag } : {}),
  };
}

export function interfacesRouter(deps: ApiDeps): Router {
  const { db, instanceNetwork: network } = deps;
  const r = Router({ mergeParams: true });
  const serverId = (params: unknown) => (params as { id: string }).id;

  /** The server's attachments as views, by port id. */
  const attachments = async (res: Parameters<typeof ctxOf>[0], id: string) => {
    const ctx = ctxOf(res);
    const inst = await findServer(db, ctx, id);
    const tags = inst.request_spec.port_tags ?? {};
    const showTag = ctx.version.ge('2.70');
    const vifs = await network.networkInfo(inst.uuid);
    return new Map(vifs.map((v) => [v.id, interfaceAttachment(v, tags[v.id], showTag)]));
  };

  r.get(
    '/',
    route(async (req, res) => {
      const all = await attachments(res, serverId(req.params));
      res.json({ interfaceAttachments: [...all.values()] });
    }),
  );

  const showOne = async (res: Parameters<typeof ctxOf>[0], id: string, portId: string) => {
    const one = (await attachments(res, id)).get(portId);
    if (!one) throw itemNotFound(`Instance ${id} does not have a port with id ${portId}`);
    return { interfaceAttachment: one };
  };

  r.get(
    '/:portId',
    route(async (req, res) => {
      const { portId } = req.params as { portId: string };
      res.json(await showOne(res, serverId(req.params), portId));
    }),
  );

  r.post(
    '/',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const body = validate<CreateBody>(createSchema(ctx.version), req.body ?? {});
      const requested = requestedOf(body);
      const inst = await findServer(db, ctx, serverId(req.params));
      const vif = await attachInterface(deps, ctx, inst, requested);
      res.json(await showOne(res, inst.uuid, vif.id));
    }),
  );

  r.delete(
    '/:portId',
    route(async (req, res) => {
      const ctx = ctxOf(res);
      const { portId } = req.params as { portId: string };
      const inst = await findServer(db, ctx, serverId(req.params));
      await detachInterface(deps, ctx, inst, portId);
      res.status(202).end();
    }),
  );
  return r;
}
