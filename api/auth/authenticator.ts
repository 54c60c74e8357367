/** The one interface the API authenticates through: a token in, credentials out. */
import type { Credentials } from '../context';

export interface Authenticator {
  /** resolves the X-Auth-Token; rejects with a 401 ApiFault when it is not valid */
  authenticate(token: string | undefined): Promise<Credentials>;
}
