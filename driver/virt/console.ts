/** Console output as Nova's API hands it out. */

/** What one request returns at most, as libvirt's driver caps it (MAX_CONSOLE_BYTES). */
export const MAX_CONSOLE_BYTES = 100 << 10;

/** The last `lines` lines (all when undefined); a final newline ends a line, it does not start one. */
export function tailLines(text: string, lines?: number): string {
  if (lines === undefined) return text;
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (lines <= 0 || !body) return '';
  return body.split('\n').slice(-lines).join('\n') + (body === text ? '' : '\n');
}
