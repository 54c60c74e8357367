/**
 * What `berth image pull` shows while blobs arrive: on a terminal one line
 * per blob (bytes, total, rate), redrawn in place with ANSI cursor moves;
 * elsewhere a log line when each blob starts and ends, so logs stay short.
 */
import type { Logger } from '../common/log';
import type { BlobProgress } from '../driver/image/registry/pull';

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

function line(p: BlobProgress): string {
  const name = p.blob === 'config' ? 'config ' : `layer ${p.blob}`;
  const short = p.digest.slice(7, 19);
  const what =
    p.state === 'cached'
      ? 'already here'
      : `${mib(p.done)} / ${mib(p.total)}  ${mib(p.rate)}/s${p.state === 'done' ? '  done' : ''}`;
  return `${name}  ${short}  ${what}`;
}

export function pullProgress(
  out: NodeJS.WriteStream,
  log: Logger,
): { onProgress: (p: BlobProgress) => void; finish: () => void } {
  if (!out.isTTY) {
    const started = new Set<string>();
    return {
      onProgress(p) {
        const fields = { blob: p.digest, layer: p.blob, bytes: p.done, size: p.total };
        if (p.state === 'fetching' && !started.has(p.digest)) {
          started.add(p.digest);
          log.info('pulling blob', fields);
        } else if (p.state !== 'fetching')
          log.info(p.state === 'cached' ? 'blob already here' : 'blob pulled', {
            ...fields,
            bytes_per_second: Math.round(p.rate),
          });
      },
      finish() {},
    };
  }
  const rows = new Map<string, string>();
  let drawn = 0;
  let last = 0;
  const draw = () => {
    // Up to the first row of the previous drawing, then every row again, each line cleared.
    let text = drawn ? `\x1b[${drawn}A` : '';
    for (const row of rows.values()) text += `\r\x1b[2K${row}\n`;
    out.write(text);
    drawn = rows.size;
  };
  return {
    onProgress(p) {
      rows.set(p.digest, line(p));
      const now = Date.now();
      // Redrawing on every chunk would cost more than the download.
      if (p.state !== 'fetching' || now - last > 100) {
        last = now;
        draw();
      }
    },
    finish: draw,
  };
}
