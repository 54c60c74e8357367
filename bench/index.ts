// Entry point of `npm run bench -- NAME [options]`: runs one named benchmark,
// which prints a readable table and, as its last line, one JSON object.

import { parseArgs } from 'node:util';
import { apiBenchmark } from './api';
import { densityBenchmark } from './density';
import { IMAGE_SCENARIOS, imagesBenchmark } from './images';
import { netBenchmark } from './net';
import { rpcBenchmark } from './rpc';
import { spawnBenchmark } from './spawn';

type Values = ReturnType<typeof parse>['values'];

// A Map rather than an object literal, so `toString` and friends are not benchmarks.
const BENCHMARKS = new Map<string, (values: Values, signal: AbortSignal) => Promise<void>>([
  [
    'spawn',
    (values, signal) =>
      spawnBenchmark({
        iterations: positiveInteger('iterations', values.iterations ?? '200'),
        concurrent: positiveInteger('concurrent', values.concurrent ?? '200'),
        signal,
      }),
  ],
  [
    'rpc',
    (values, signal) =>
      rpcBenchmark({
        singles: positiveInteger('singles', values.singles),
        builds: positiveInteger('builds', values.builds),
        inFlight: positiveInteger('in-flight', values['in-flight']),
        calls: positiveInteger('calls', values.calls),
        signal,
      }),
  ],
  [
    'api',
    (values, signal) =>
      apiBenchmark({
        singles: positiveInteger('singles', values.singles),
        servers: positiveInteger('servers', values.servers),
        inFlight: positiveInteger('in-flight', values['in-flight']),
        instances: positiveInteger('instances', values.instances ?? '1000'),
        requests: positiveInteger('requests', values.requests),
        connections: positiveInteger('connections', values.connections),
        signal,
      }),
  ],
  [
    'density',
    (values, signal) =>
      densityBenchmark({
        instances: positiveInteger('instances', values.instances ?? '1000'),
        inFlight: positiveInteger('in-flight', values['in-flight']),
        idleSeconds: positiveInteger('idle-seconds', values['idle-seconds']),
        requests: positiveInteger('requests', values.requests),
        signal,
      }),
  ],
  [
    'net',
    (values, signal) =>
      netBenchmark({
        // Its own default: every boot here also makes and removes a veth.
        iterations: positiveInteger('iterations', values.iterations ?? '100'),
        instances: positiveInteger('instances', values.instances ?? '50'),
        roundTrips: positiveInteger('round-trips', values['round-trips']),
        bulkMb: positiveInteger('bulk-mb', values['bulk-mb']),
        signal,
      }),
  ],
  [
    'images',
    (values, signal) =>
      imagesBenchmark({
        repetitions: positiveInteger('repetitions', values.repetitions),
        concurrent: positiveInteger('concurrent', values.concurrent ?? '20'),
        imageMb: positiveInteger('image-mb', values['image-mb']),
        layers: positiveInteger('layers', values.layers),
        downloads: values.downloads ? positiveInteger('downloads', values.downloads) : undefined,
        scenarios: values.only ? scenarioList(values.only) : undefined,
        snapshotMb: (values['snapshot-mb'] ?? '')
          .split(',')
          .map((v) => positiveInteger('snapshot-mb', v)),
        signal,
      }),
  ],
]);

const USAGE = `usage: npm run bench -- NAME [options]
benchmarks: ${[...BENCHMARKS.keys()].join(', ')}
spawn:
  --iterations N   timed samples per runtime in the latency test (default 200)
  --concurrent N   containers started at once in the concurrency test (default 200)
rpc:
  --singles N      instances built one at a time, then terminated, first (default 50)
  --builds N       instances built and terminated through berth compute (default 200)
  --in-flight N    builds (and terminates) awaiting their notification at once (default 10)
  --calls N        timed sequential calls per messaging stack (default 500)
api:
  --singles N      servers built one at a time, first (default 50)
  --servers N      servers built on containers, then deleted, through the API (default 100)
  --in-flight N    servers being built (or deleted) at once (default 10)
  --instances N    servers in the database for GET /servers/detail (default 1000)
  --requests N     timed GET /servers/detail requests to berth and to the stub each (default 400)
  --connections N  keep-alive connections those requests share (default 4)
density:
  --instances N    instances booted on one host (default 1000)
  --in-flight N    builds awaiting their notification at once (default 10)
  --idle-seconds N the compute watched at idle with all of them (default 30)
  --requests N     GET /servers/detail of as many servers, one at a time (default 400)
net:
  --iterations N   timed boots with one port per runtime, and plugs/unplugs (default 100)
  --instances N    instances booted at once on one network (default 50)
  --round-trips N  timed TCP round trips per path (default 2000)
  --bulk-mb N      MiB echoed through each path for throughput (default 256)
images:
  --repetitions N  timed cold pulls per side, and warm boots (default 5)
  --concurrent N   pulls of one uncached image at once (default 20)
  --image-mb N     MiB of random data in the pulled image (default 200)
  --layers N       random data layers on top of busybox (default 5)
  --snapshot-mb A,B  writable layers snapshotted, MiB (default 100,1024)
  --downloads N    berth's parallel blob downloads (default: [registry] max_concurrent_downloads)
  --only A,B       run only these scenarios: ${IMAGE_SCENARIOS.join(', ')} (default: all)`;

function usage(problem: string): never {
  console.error(`bench: ${problem}\n${USAGE}`);
  process.exit(2);
}

function scenarioList(value: string): Set<string> {
  const names = value.split(',').map((v) => v.trim());
  const unknown = names.filter((n) => !IMAGE_SCENARIOS.includes(n));
  if (unknown.length || names.length === 0)
    usage(`--only takes ${IMAGE_SCENARIOS.join(', ')}; not ${unknown.join(', ')}`);
  return new Set(names);
}

function positiveInteger(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) usage(`--${option} must be a positive integer`);
  return n;
}

function parse(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        // No default here: spawn and net have different ones.
        iterations: { type: 'string' },
        // No default here: spawn and images have different ones.
        concurrent: { type: 'string' },
        singles: { type: 'string', default: '50' },
        builds: { type: 'string', default: '200' },
        'in-flight': { type: 'string', default: '10' },
        calls: { type: 'string', default: '500' },
        servers: { type: 'string', default: '100' },
        // No default here: api and net have different ones.
        instances: { type: 'string' },
        requests: { type: 'string', default: '400' },
        connections: { type: 'string', default: '4' },
        'round-trips': { type: 'string', default: '2000' },
        'bulk-mb': { type: 'string', default: '256' },
        repetitions: { type: 'string', default: '5' },
        'image-mb': { type: 'string', default: '200' },
        layers: { type: 'string', default: '5' },
        'snapshot-mb': { type: 'string', default: '100,1024' },
        downloads: { type: 'string' },
        only: { type: 'string' },
        'idle-seconds': { type: 'string', default: '30' },
      },
      allowPositionals: true,
    });
  } catch (err) {
    usage((err as Error).message);
  }
}

async function main(): Promise<void> {
  const parsed = parse(process.argv.slice(2));
  const [name, ...extra] = parsed.positionals;
  const bench = BENCHMARKS.get(name ?? '');
  if (!bench) usage(name ? `unknown benchmark ${JSON.stringify(name)}` : 'no benchmark named');
  if (extra.length > 0) usage(`unexpected arguments: ${extra.join(' ')}`);

  // The first ^C or SIGTERM stops the benchmark where it can still remove its
  // containers, cgroups and monitor; a second one gives up on that.
  const controller = new AbortController();
  const interrupt = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    console.error(`bench: ${signal}: stopping and cleaning up`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', interrupt).on('SIGTERM', interrupt);

  await bench(parsed.values, controller.signal);
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
