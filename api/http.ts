/**
 * Small pieces every router uses: async handlers whose rejections reach
 * the fault handler, and Nova's list pagination links.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export function route(
  fn: (req: Request, res: Response) => Promise<unknown> | unknown,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    Promise.resolve()
      .then(() => fn(req, res))
      .catch(next);
  };
}

/**
 * `collection/` is a show with an empty id, which Nova's router cannot
 * find; express hands it to the collection's `/` like `collection`.
 */
export const isEmptyIdPath = (req: Request) => req.originalUrl.split('?')[0].endsWith('/');

/** Nova's `<collection>_links`: a "next" link when the page is full. */
export function nextLinks(
  base: string,
  path: string,
  query: Record<string, unknown>,
  page: { id: string }[],
  limit: number | undefined,
): { href: string; rel: string }[] | undefined {
  if (limit === undefined || page.length === 0 || page.length < limit) return undefined;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (k === 'marker' || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  q.set('marker', page[page.length - 1].id);
  return [{ href: `${base}${path}?${q.toString()}`, rel: 'next' }];
}

export const now = () => new Date().toISOString();

/** Nova prints times to the second with a Z. */
export const isoSeconds = (t: string | null | undefined) => (t ? `${t.slice(0, 19)}Z` : null);

/** Nova's naive datetimes at full precision: `us` microseconds since the epoch, no zone. */
export function novaTime(us: number): string {
  const micros = us - Math.floor(us / 1e6) * 1e6;
  return `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}`;
}
