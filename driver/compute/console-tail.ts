/**
 * The console log's tail as nova-compute cuts it (ComputeManager._tail_log):
 * the last N elements of the text split at '\n'. A log that ends with a
 * newline so yields N-1 lines and that newline, and `output.split('\n')` on
 * the client has exactly N elements, which Tempest's console test counts.
 */
export function novaTailLog(text: string, length: number): string {
  if (length === 0) return '';
  return text.split('\n').slice(-length).join('\n');
}
