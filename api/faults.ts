/**
 * Nova's fault bodies: every error an API request can meet becomes one
 * status and one `{"<faultName>": {"code", "message"}}` body. BerthError
 * kinds map once, here.
 */
import { BerthError } from '../common/errors';

export class ApiFault extends Error {
  constructor(
    readonly status: number,
    readonly faultName: string,
    message: string,
    /** response headers the fault carries, e.g. WWW-Authenticate on a 401 */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiFault';
  }

  body() {
    return { [this.faultName]: { code: this.status, message: this.message } };
  }
}

export const badRequest = (message: string) => new ApiFault(400, 'badRequest', message);
export const unauthorized = (
  message = 'The request you have made requires authentication.',
  headers: Record<string, string> = {},
) => new ApiFault(401, 'unauthorized', message, headers);
export const forbidden = (message: string) => new ApiFault(403, 'forbidden', message);
export const itemNotFound = (message: string) => new ApiFault(404, 'itemNotFound', message);
export const notAcceptable = (message: string) => new ApiFault(406, 'notAcceptable', message);
export const conflictingRequest = (message: string) =>
  new ApiFault(409, 'conflictingRequest', message);
export const overLimit = (message: string) => new ApiFault(413, 'overLimit', message);
export const unsupportedMediaType = (message: string) => new ApiFault(415, 'badMediaType', message);
export const computeFault = (message: string) => new ApiFault(500, 'computeFault', message);
/** An API Nova removed (nova-network's): webob's HTTPGone, which Nova's fault names call computeFault. */
export const gone = () =>
  new ApiFault(
    410,
    'computeFault',
    'This resource is no longer available.  No forwarding address is given.',
  );
export const serviceUnavailable = (message: string) =>
  new ApiFault(503, 'serviceUnavailable', message);

/** Policy refusal, worded as Nova's. */
export const policyForbidden = (rule: string) =>
  forbidden(`Policy doesn't allow ${rule} to be performed.`);

/** The one mapping from the closed error set to API faults. */
export function toApiFault(err: unknown): ApiFault {
  if (err instanceof ApiFault) return err;
  if (err instanceof BerthError) {
    switch (err.kind) {
      case 'NotFound':
        return itemNotFound(err.message);
      case 'Conflict':
        return conflictingRequest(err.message);
      case 'InvalidArgument':
        return badRequest(err.message);
      // Nova answers an exceeded quota with 403.
      case 'ResourceExhausted':
        return forbidden(err.message);
      case 'Unavailable':
        return serviceUnavailable(err.message);
    }
  }
  return computeFault(
    'Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.',
  );
}
