/**
 * Nova's compute API get_serial_console: the instance must be running on a
 * host; its compute says where the console listens; a one-time token for
 * it goes into the URL the caller opens with a websocket.
 */
import type { ApiContext } from '../context';
import { rpcContext } from '../context';
import type { ApiDeps } from '../deps';
import { badRequest, conflictingRequest } from '../faults';
import { callCompute } from '../routes/compute-errors';
import { findServer } from '../routes/server-lookup';
import { ConsoleTokens } from './tokens';

/** Where the serial proxy is served on the API's own listener. */
export const SERIAL_PROXY_PATH = '/serial';

/** The console URL's base: [console] serialproxy_base_url, else the API's address the client used. */
export function serialProxyBase(deps: ApiDeps, apiBase: string): string {
  const configured = deps.config.console.serialproxy_base_url;
  if (configured) return configured;
  return `${apiBase.replace(/^http/, 'ws')}${SERIAL_PROXY_PATH}`;
}

/** ws://…/serial?token=…, Nova's shape (its base_url plus ?token=). */
export async function serialConsoleUrl(
  deps: ApiDeps,
  ctx: ApiContext,
  uuid: string,
  protocol: string,
  type: string,
  apiBase: string,
): Promise<string> {
  const inst = await findServer(deps.db, ctx, uuid);
  // Only the serial console exists here: the others are Nova's "not enabled".
  if (protocol !== 'serial') throw badRequest(`Unavailable console type ${type}.`);
  if (type !== 'serial') throw badRequest(`Invalid console type ${type}`);
  if (!inst.host || inst.vm_state !== 'active' || inst.task_state)
    throw conflictingRequest(`Instance ${inst.uuid} is not ready.`);
  const info = await callCompute(() => deps.compute.getSerialConsole(inst, type, rpcContext(ctx)));
  // The secret in internal_access_path is for the proxy's own connection; it is not stored.
  const token = await new ConsoleTokens(deps.db, deps.config.console.token_ttl).issue({
    instance_uuid: inst.uuid,
    project_id: inst.project_id,
    console_type: type,
    host: info.host,
    port: info.port,
    internal_access_path: null,
  });
  ctx.log.info('serial console token issued', { instance_uuid: inst.uuid });
  const base = serialProxyBase(deps, apiBase);
  return `${base}${base.includes('?') ? '&' : '?'}token=${token}`;
}
