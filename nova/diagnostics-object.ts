/**
 * Nova's Diagnostics 1.0 object (nova/objects/diagnostics.py) with its
 * nested CpuDiagnostics, NicDiagnostics, DiskDiagnostics and
 * MemoryDiagnostics, as get_instance_diagnostics answers over RPC and a
 * Nova API deserializes it; and the 2.48 API view made from it. Fields a
 * container has no value for are null, as Nova's drivers leave them.
 */

export interface NovaObject<T = Record<string, unknown>> {
  'nova_object.name': string;
  'nova_object.namespace': 'nova';
  'nova_object.version': string;
  'nova_object.data': T;
}

const obj = <T>(name: string, data: T): NovaObject<T> => ({
  'nova_object.name': name,
  'nova_object.namespace': 'nova',
  'nova_object.version': '1.0',
  'nova_object.data': data,
});

const NIC_FIELDS = [
  'mac_address',
  'rx_octets',
  'rx_errors',
  'rx_drop',
  'rx_packets',
  'rx_rate',
  'tx_octets',
  'tx_errors',
  'tx_drop',
  'tx_packets',
  'tx_rate',
] as const;
const DISK_FIELDS = [
  'read_bytes',
  'read_requests',
  'write_bytes',
  'write_requests',
  'errors_count',
] as const;

type Nullable<K extends string> = Partial<Record<K, string | number | null>>;

export interface DiagnosticsData {
  state: string;
  driver: string;
  hypervisor: string;
  hypervisor_os: string;
  uptime: number | null;
  config_drive: boolean;
  num_cpus: number;
  memory: { maximum: number | null; used: number | null };
  cpus: { id: number; time: number | null; utilisation: number | null }[];
  nics: Nullable<(typeof NIC_FIELDS)[number]>[];
  disks: Nullable<(typeof DISK_FIELDS)[number]>[];
}

const complete = <K extends string>(fields: readonly K[], given: Nullable<K>) =>
  Object.fromEntries(fields.map((f) => [f, given[f] ?? null]));

export function diagnosticsObject(d: DiagnosticsData): NovaObject {
  return obj('Diagnostics', {
    state: d.state,
    driver: d.driver,
    hypervisor: d.hypervisor,
    hypervisor_os: d.hypervisor_os,
    uptime: d.uptime,
    config_drive: d.config_drive,
    num_cpus: d.num_cpus,
    num_nics: d.nics.length,
    num_disks: d.disks.length,
    memory_details: obj('MemoryDiagnostics', d.memory),
    cpu_details: d.cpus.map((c) => obj('CpuDiagnostics', c)),
    nic_details: d.nics.map((n) => obj('NicDiagnostics', complete(NIC_FIELDS, n))),
    disk_details: d.disks.map((k) => obj('DiskDiagnostics', complete(DISK_FIELDS, k))),
  });
}

const dataOf = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && 'nova_object.data' in v
    ? ((v as NovaObject)['nova_object.data'] as Record<string, unknown>)
    : ((v ?? {}) as Record<string, unknown>);

/** The 2.48 view (Nova's views/server_diagnostics.py): the object with its nested objects as plain dicts. */
export function diagnosticsView(reply: unknown): Record<string, unknown> {
  const d = dataOf(reply);
  const list = (k: string) => ((d[k] as unknown[] | undefined) ?? []).map(dataOf);
  return {
    ...d,
    memory_details: dataOf(d.memory_details),
    cpu_details: list('cpu_details'),
    nic_details: list('nic_details'),
    disk_details: list('disk_details'),
  };
}
