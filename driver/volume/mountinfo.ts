/**
 * What the kernel says is mounted where, from /proc/self/mountinfo: the
 * source of a mount point (a volume's loop device), whether one is mounted.
 */
import fs from 'node:fs';

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mount source of the top-most mount on `mountPoint`, or undefined when none is. */
export function mountSource(mountPoint: string, text?: string): string | undefined {
  let source: string | undefined;
  for (const line of (text ?? fs.readFileSync('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 0 || unescape(fields[4]) !== mountPoint) continue;
    // Later lines are mounted over earlier ones.
    source = unescape(fields[sep + 2]);
  }
  return source;
}
