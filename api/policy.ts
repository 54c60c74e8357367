/**
 * Nova's default policy, as berth applies it: a few rules are admin-only
 * (the operator APIs and acting on another project or user), everything
 * else is the caller's own project. Rule names are Nova's so that a 403
 * reads as it would from Nova.
 */
import type { ApiContext } from './context';
import { policyForbidden } from './faults';

/** Nova's rule names for the admin-only operations berth checks. */
export const ADMIN_RULES = {
  hypervisors: 'os_compute_api:os-hypervisors:list',
  hypervisorsDetail: 'os_compute_api:os-hypervisors:list-detail',
  hypervisorShow: 'os_compute_api:os-hypervisors:show',
  hypervisorStatistics: 'os_compute_api:os-hypervisors:statistics',
  hypervisorUptime: 'os_compute_api:os-hypervisors:uptime',
  hypervisorSearch: 'os_compute_api:os-hypervisors:search',
  hypervisorServers: 'os_compute_api:os-hypervisors:servers',
  servicesList: 'os_compute_api:os-services:list',
  servicesUpdate: 'os_compute_api:os-services:update',
  servicesDelete: 'os_compute_api:os-services:delete',
  flavorCreate: 'os_compute_api:os-flavor-manage:create',
  flavorUpdate: 'os_compute_api:os-flavor-manage:update',
  flavorDelete: 'os_compute_api:os-flavor-manage:delete',
  extraSpecsCreate: 'os_compute_api:os-flavor-extra-specs:create',
  extraSpecsUpdate: 'os_compute_api:os-flavor-extra-specs:update',
  extraSpecsDelete: 'os_compute_api:os-flavor-extra-specs:delete',
  flavorAccessList: 'os_compute_api:os-flavor-access',
  flavorAccessAdd: 'os_compute_api:os-flavor-access:add_tenant_access',
  flavorAccessRemove: 'os_compute_api:os-flavor-access:remove_tenant_access',
  quotaShow: 'os_compute_api:os-quota-sets:show',
  quotaDetail: 'os_compute_api:os-quota-sets:detail',
  quotaDefaults: 'os_compute_api:os-quota-sets:defaults',
  quotaUpdate: 'os_compute_api:os-quota-sets:update',
  quotaDelete: 'os_compute_api:os-quota-sets:delete',
  quotaClassShow: 'os_compute_api:os-quota-class-sets:show',
  quotaClassUpdate: 'os_compute_api:os-quota-class-sets:update',
  limitsOtherProject: 'os_compute_api:limits:other_project',
  availabilityZoneDetail: 'os_compute_api:os-availability-zone:detail',
  serverGroupsAllProjects: 'os_compute_api:os-server-groups:index:all_projects',
  keypairsIndex: 'os_compute_api:os-keypairs:index',
  keypairsShow: 'os_compute_api:os-keypairs:show',
  keypairsCreate: 'os_compute_api:os-keypairs:create',
  keypairsDelete: 'os_compute_api:os-keypairs:delete',
  externalEventsCreate: 'os_compute_api:os-server-external-events:create',
  migrationsIndex: 'os_compute_api:os-migrations:index',
  tenantUsageList: 'os_compute_api:os-simple-tenant-usage:list',
  tenantUsageShow: 'os_compute_api:os-simple-tenant-usage:show',
} as const;

/** Throws Nova's 403 "Policy doesn't allow <rule> to be performed." unless the caller is an admin. */
export function requireAdmin(ctx: ApiContext, rule: string): void {
  if (!ctx.isAdmin) throw policyForbidden(rule);
}

/** Nova's "admin or owner": the caller's own project, or any project for an admin. */
export function isOwnerOrAdmin(ctx: ApiContext, projectId: string): boolean {
  return ctx.isAdmin || ctx.projectId === projectId;
}

/** Throws the rule's 403 unless `projectId` is the caller's own or the caller is an admin. */
export function requireOwnerOrAdmin(ctx: ApiContext, projectId: string, rule: string): void {
  if (!isOwnerOrAdmin(ctx, projectId)) throw policyForbidden(rule);
}

/** Keypairs belong to users: `userId` must be the caller unless the caller is an admin. */
export function requireUserOrAdmin(ctx: ApiContext, userId: string, rule: string): void {
  if (!ctx.isAdmin && ctx.userId !== userId) throw policyForbidden(rule);
}
