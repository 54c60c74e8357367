/**
 * The lower directories the host's containers use, read from their
 * persisted configs (`<state_path>/containers/<id>/config.json`), so that
 * any process (the compute, `berth image prune`) sees every container the
 * monitor owns, running or stopped, not only those it has loaded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { InternalError } from '../../common/errors';
import { containerPaths } from './spec';

export async function layersInUse(stateDir: string): Promise<string[]> {
  const root = path.join(stateDir, 'containers');
  let ids: string[];
  try {
    ids = await fs.promises.readdir(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: string[] = [];
  for (const id of ids) {
    let text: string;
    try {
      text = await fs.promises.readFile(containerPaths(stateDir, id).config, 'utf8');
    } catch {
      continue; // a create that never wrote its config: nothing mounted
    }
    let persisted: { config?: { layers?: string[] } };
    try {
      persisted = JSON.parse(text) as typeof persisted;
    } catch (err) {
      // Not knowing what a container uses must stop an eviction, not let it guess.
      throw new InternalError(
        `container config ${containerPaths(stateDir, id).config} is corrupt`,
        {
          cause: err,
        },
      );
    }
    out.push(...(persisted.config?.layers ?? []));
  }
  return out;
}
