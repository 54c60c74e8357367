/**
 * Nova's noauth2: the token is `user:project` (or just `user`, which is
 * then also the project); the user called admin is an admin. Trusting the
 * caller like this is only safe on loopback, so the API refuses to start
 * with it anywhere else.
 */
import type { Credentials } from '../context';
import { unauthorized } from '../faults';
import type { Authenticator } from './authenticator';

export function noauth2Credentials(token: string | undefined): Credentials {
  if (!token) throw unauthorized();
  const [user, project] = token.split(':', 2);
  const userId = user.trim();
  const projectId = (project ?? '').trim() || userId;
  // Ids are stored in 255-character columns; a longer one could name no user or project.
  if (!userId || userId.length > 255 || projectId.length > 255) throw unauthorized();
  const isAdmin = userId === 'admin';
  return {
    userId,
    projectId,
    isAdmin,
    roles: isAdmin ? ['admin', 'member', 'reader'] : ['member', 'reader'],
  };
}

export class Noauth2Authenticator implements Authenticator {
  async authenticate(token: string | undefined): Promise<Credentials> {
    return noauth2Credentials(token);
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost):\d+$/;

export function assertLoopback(listen: string): void {
  if (!LOOPBACK.test(listen))
    throw new Error(
      `[api] auth_strategy = noauth2 trusts whoever connects; refusing to listen on ${listen}. Listen on loopback or use auth_strategy = keystone.`,
    );
}
