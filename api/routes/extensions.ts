/**
 * /v2.1/extensions: Nova's deprecated extension list, kept because clients
 * and Tempest still read it. Nova answers a fixed list; berth's names the
 * extensions whose APIs berth serves, in Nova's shape (one namespace and
 * updated date for all, as Nova's extension_info gives them).
 */
import { Router } from 'express';
import { itemNotFound } from '../faults';
import { route } from '../http';

const EXTENSIONS: [name: string, alias: string, description: string][] = [
  ['AccessIPs', 'os-access-ips', 'Access IPs support.'],
  ['AdminActions', 'os-admin-actions', 'Enable admin-only server actions.'],
  ['AttachInterfaces', 'os-attach-interfaces', 'Attach interface support.'],
  ['AvailabilityZone', 'os-availability-zone', '1. Add availability_zone to the Create Server API.'],
  ['ConsoleAuthTokens', 'os-console-auth-tokens', 'Console token authentication support.'],
  ['ConsoleOutput', 'os-console-output', 'Console log output support.'],
  ['Consoles', 'os-consoles', 'Interactive Console support.'],
  ['DiskConfig', 'os-disk-config', 'Disk Management Extension.'],
  ['ExtendedAvailabilityZone', 'os-extended-availability-zone', 'Extended Availability Zone support.'],
  ['ExtendedServerAttributes', 'os-extended-server-attributes', 'Extended Server Attributes support.'],
  ['ExtendedStatus', 'os-extended-status', 'Extended Status support.'],
  ['ExtendedVolumes', 'os-extended-volumes', 'Extended Volumes support.'],
  ['FlavorAccess', 'os-flavor-access', 'Flavor access support.'],
  ['FlavorExtraSpecs', 'os-flavor-extra-specs', 'Flavors extra specs support.'],
  ['FlavorManage', 'os-flavor-manage', 'Flavor create/delete API support.'],
  ['Flavors', 'flavors', 'Flavors Extension.'],
  ['FloatingIpPools', 'os-floating-ip-pools', 'Floating IPs support.'],
  ['FloatingIps', 'os-floating-ips', 'Floating IPs support.'],
  ['Hosts', 'os-hosts', 'Admin-only host administration.'],
  ['Hypervisors', 'os-hypervisors', 'Admin-only hypervisor administration.'],
  ['ImageMetadata', 'image-metadata', 'Image Metadata API.'],
  ['Images', 'images', 'Images Extension.'],
  ['InstanceActions', 'os-instance-actions', 'View a log of actions and events taken on an instance.'],
  ['InstanceUsageAuditLog', 'os-instance-usage-audit-log', 'Admin-only Task Log Monitoring.'],
  ['Keypairs', 'os-keypairs', 'Keypair Support.'],
  ['Limits', 'limits', 'Limits support.'],
  ['LockServer', 'os-lock-server', 'Enable lock/unlock server actions.'],
  ['Migrations', 'os-migrations', 'Provide data on migrations.'],
  ['PauseServer', 'os-pause-server', 'Enable pause/unpause server actions.'],
  ['QuotaClasses', 'os-quota-class-sets', 'Quota classes management support.'],
  ['Quotas', 'os-quota-sets', 'Quotas management support.'],
  ['RemoteConsoles', 'os-remote-consoles', 'Interactive Console support.'],
  ['SecurityGroups', 'os-security-groups', 'Security group support.'],
  ['ServerDiagnostics', 'os-server-diagnostics', 'Allow Admins to view server diagnostics through server action.'],
  ['ServerExternalEvents', 'os-server-external-events', 'Server External Event Triggers.'],
  ['ServerGroups', 'os-server-groups', 'Server group support.'],
  ['ServerMetadata', 'server-metadata', 'Server metadata Support.'],
  ['ServerTags', 'os-server-tags', 'Server tags support.'],
  ['Servers', 'servers', 'Servers.'],
  ['Services', 'os-services', 'Services support.'],
  ['SimpleTenantUsage', 'os-simple-tenant-usage', 'Simple tenant usage extension.'],
  ['SuspendServer', 'os-suspend-server', 'Enable suspend/resume server actions.'],
  ['TenantNetworks', 'os-tenant-networks', 'Tenant-based Network Management Extension.'],
  ['Versions', 'versions', 'API Version information.'],
  ['Volumes', 'os-volumes', 'Volumes support.'],
]; // prettier-ignore

const view = ([name, alias, description]: (typeof EXTENSIONS)[number]) => ({
  name,
  alias,
  description,
  namespace: 'http://docs.openstack.org/compute/ext/fake_xml',
  updated: '2014-12-03T00:00:00Z',
  links: [],
});

export function extensionsRouter(): Router {
  const r = Router();
  r.get(
    '/',
    route(async (_req, res) => {
      res.json({ extensions: EXTENSIONS.map(view) });
    }),
  );
  r.get(
    '/:alias',
    route(async (req, res) => {
      const found = EXTENSIONS.find(([, alias]) => alias === req.params.alias);
      if (!found) throw itemNotFound('The resource could not be found.');
      res.json({ extension: view(found) });
    }),
  );
  return r;
}
