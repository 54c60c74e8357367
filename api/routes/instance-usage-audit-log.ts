/**
 * /v2.1/os-instance_usage_audit_log (admin only): how far the computes got
 * with auditing instance usage for the last completed month (or the month
 * before a given time), as Nova reports its task_log. berth's computes run
 * no usage audit (they emit no instance.exists notifications), so every
 * compute host is reported as not run, with nothing done and no errors:
 * the truth, in the shape billing tools read.
 */
import { Router } from 'express';
import { ctxOf } from '../context';
import type { Database } from '../db/connection';
import type { ServiceRow } from '../db/services';
import type { ApiDeps } from '../deps';
import { badRequest, policyForbidden } from '../faults';
import { route } from '../http';

const RULE = (what: string) => `os_compute_api:os-instance-usage-audit-log:${what}`;

/** Python's str() of a naive datetime at a whole second: "2012-06-01 00:00:00". */
const pyDateTime = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');

/** Nova's utils.last_completed_audit_period for the default unit, a month. */
export function lastCompletedMonth(before: Date): { begin: Date; end: Date } {
  const y = before.getUTCFullYear();
  const m = before.getUTCMonth();
  let end = new Date(Date.UTC(y, m, 1));
  if (end >= before) end = new Date(Date.UTC(y, m - 1, 1));
  const begin = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1));
  return { begin, end };
}

/** "%Y-%m-%d %H:%M:%S" with optional ".%f", as Nova's strptime takes the id; undefined if not one. */
export function parseAuditTime(text: string): Date | undefined {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?$/.exec(
    text,
  );
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  // Date.UTC rolls 2012-02-30 over to March; strptime refuses it.
  const valid =
    t.getUTCFullYear() === y &&
    t.getUTCMonth() === mo - 1 &&
    t.getUTCDate() === d &&
    t.getUTCHours() === h &&
    t.getUTCMinutes() === mi &&
    t.getUTCSeconds() === s;
  return valid ? t : undefined;
}

async function auditLog(db: Database, before: Date) {
  const { begin, end } = lastCompletedMonth(before);
  const hosts = [
    ...new Set(
      (await db<ServiceRow>('services').where({ topic: 'compute' }).orderBy('id')).map(
        (s) => s.host,
      ),
    ),
  ];
  return {
    period_beginning: pyDateTime(begin),
    period_ending: pyDateTime(end),
    num_hosts: hosts.length,
    num_hosts_done: 0,
    num_hosts_running: 0,
    hosts_not_run: hosts,
    num_hosts_not_run: hosts.length,
    total_instances: 0,
    total_errors: 0,
    overall_status: `${hosts.length === 0 ? 'ALL' : `0 of ${hosts.length}`} hosts done. 0 errors.`,
    log: {},
  };
}

export function instanceUsageAuditLogRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get(
    '/',
    route(async (_req, res) => {
      if (!ctxOf(res).isAdmin) throw policyForbidden(RULE('list'));
      res.json({ instance_usage_audit_logs: await auditLog(deps.db, new Date()) });
    }),
  );
  router.get(
    '/:before',
    route(async (req, res) => {
      if (!ctxOf(res).isAdmin) throw policyForbidden(RULE('show'));
      const before = parseAuditTime(req.params.before);
      if (!before) throw badRequest(`Invalid timestamp for date ${req.params.before}`);
      res.json({ instance_usage_audit_log: await auditLog(deps.db, before) });
    }),
  );
  return router;
}
