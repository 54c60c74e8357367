/** oslo's RPC dispatch rules (oslo_messaging.rpc.dispatcher, 14.0.3) over berth endpoints. */
import { InvalidArgumentError } from '../common/errors';
import type { RemoteFault } from './failures';
import type { RpcRequest } from './request';
import type { Endpoint, EndpointMethod } from './transport';
import { parseVersion, versionIsCompatible } from './version';

const DISPATCHER_MODULE = 'oslo_messaging.rpc.dispatcher';

/** A compatible endpoint exists but does not expose the method. */
export class NoSuchMethod extends InvalidArgumentError {
  readonly remoteFault: RemoteFault = { class: 'NoSuchMethod', module: DISPATCHER_MODULE };
  constructor(method: string) {
    super(`Endpoint does not support RPC method ${method}`);
  }
}

/** No endpoint serves the requested namespace and version. */
export class UnsupportedVersion extends InvalidArgumentError {
  readonly remoteFault: RemoteFault = { class: 'UnsupportedVersion', module: DISPATCHER_MODULE };
  constructor(version: string, method: string) {
    super(`Endpoint does not support RPC version ${version}. Attempted method: ${method}`);
  }
}

// Like oslo's default access policy: underscore methods are private, and so is
// anything an endpoint object inherits rather than declares.
function exposedMethod(endpoint: Endpoint, method: string): EndpointMethod | undefined {
  if (method.startsWith('_') || !Object.hasOwn(endpoint.methods, method)) return undefined;
  const fn = endpoint.methods[method];
  return typeof fn === 'function' ? fn : undefined;
}

export class Dispatcher {
  constructor(private readonly endpoints: readonly Endpoint[]) {
    for (const endpoint of endpoints) parseVersion(endpoint.version);
  }

  /** Runs the method the request names; the result must be JSON-serialisable. */
  async dispatch(request: RpcRequest): Promise<unknown> {
    const { method, version, namespace, args, context } = request;
    let foundCompatible = false;
    for (const endpoint of this.endpoints) {
      if (endpoint.namespace !== namespace || !versionIsCompatible(endpoint.version, version)) {
        continue;
      }
      const fn = exposedMethod(endpoint, method);
      if (fn) {
        const result = await fn(args, {
          context,
          method,
          expectsReply: request.reply !== undefined,
        });
        return result ?? null;
      }
      foundCompatible = true;
    }
    throw foundCompatible ? new NoSuchMethod(method) : new UnsupportedVersion(version, method);
  }
}
