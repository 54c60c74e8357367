// Entry point of `npm run bench -- NAME [options]`: runs one named benchmark,
// which prints a readable table and, as its last line, one JSON object.

import { parseArgs } from 'node:util';
import { apiBenchmark } from './api';
import { rpcBenchmark } from './rpc';
import { spawnBenchmark } from './spawn';

type Values = ReturnType<typeof parse>['values'];

// A Map rather than an object literal, so `toString` and friends are not benchmarks.
const BENCHMARKS = new Map<string, (values: Values, signal: AbortSignal) => Promise<void>>([
  [
    'spawn',
    (values, signal) =>
      spawnBenchmark({
        iterations: positiveInteger('iterations', values.iterations),
        concurrent: positiveInteger('concurrent', values.concurrent),
        signal,
      }),
  ],
  [
    'rpc',
    (values, signal) =>
      rpcBenchmark({
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
        servers: positiveInteger('servers', values.servers),
        inFlight: positiveInteger('in-flight', values['in-flight']),
        instances: positiveInteger('instances', values.instances),
        requests: positiveInteger('requests', values.requests),
        connections: positiveInteger('connections', values.connections),
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
  --builds N       instances built and terminated through berth compute (default 200)
  --in-flight N    builds (and terminates) awaiting their notification at once (default 10)
  --calls N        timed sequential calls per messaging stack (default 500)
api:
  --servers N      servers built on containers, then deleted, through the API (default 100)
  --in-flight N    servers being built (or deleted) at once (default 10)
  --instances N    servers in the database for GET /servers/detail (default 1000)
  --requests N     timed GET /servers/detail requests to berth and to the stub each (default 400)
  --connections N  keep-alive connections those requests share (default 4)`;

function usage(problem: string): never {
  console.error(`bench: ${problem}\n${USAGE}`);
  process.exit(2);
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
        iterations: { type: 'string', default: '200' },
        concurrent: { type: 'string', default: '200' },
        builds: { type: 'string', default: '200' },
        'in-flight': { type: 'string', default: '10' },
        calls: { type: 'string', default: '500' },
        servers: { type: 'string', default: '100' },
        instances: { type: 'string', default: '1000' },
        requests: { type: 'string', default: '400' },
        connections: { type: 'string', default: '4' },
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
