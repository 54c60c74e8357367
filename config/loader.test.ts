import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from './loader';
import { OPTION_NAMES } from './schema';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-config-'));
let files = 0;
after(() => rmSync(tmp, { recursive: true, force: true }));

function writeConf(text: string): string {
  const file = path.join(tmp, `berth-${files++}.conf`);
  writeFileSync(file, text);
  return file;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

// Relative to dist/config, where the compiled tests run.
const samplePath = path.join(__dirname, '..', '..', 'config', 'berth.conf.sample');

test('defaults apply when there is no file and no environment', () => {
  const config = loadConfig({ env: {} });
  assert.equal(config.DEFAULT.host, os.hostname());
  assert.equal(config.DEFAULT.transport_url, 'rabbit://guest:guest@127.0.0.1:5672/');
  assert.equal(config.DEFAULT.control_exchange, 'nova');
  assert.equal(config.DEFAULT.state_path, '/var/lib/berth');
  assert.equal(config.DEFAULT.report_interval, 10);
  assert.equal(config.DEFAULT.debug, false);
  assert.equal(config.DEFAULT.log_level, 'info');
  assert.deepEqual(config.oslo_messaging_rabbit, {
    amqp_durable_queues: false,
    rabbit_quorum_queue: false,
  });
  assert.deepEqual(config.compute, {
    status_listen: '127.0.0.1:8780',
    console_log_max_bytes: 1048576,
    console_log_backups: 1,
    stop_timeout: 10,
    user_namespace: false,
    userns_uid_base: 100000,
    userns_size: 65536,
    default_command: '/sbin/init',
    cgroup_parent: 'berth',
    root_disk_templates_gb: [1, 20, 40, 80, 160],
  });
  assert.equal(config.DEFAULT.service_down_time, 20);
  assert.deepEqual(config.api, {
    listen: '127.0.0.1:8774',
    auth_strategy: 'noauth2',
    max_limit: 1000,
    max_request_body_size: 114688,
  });
  assert.equal(config.filter_scheduler.enabled_filters[0], 'ComputeFilter');
  assert.deepEqual(config.keystone_authtoken, {
    www_authenticate_uri: 'http://127.0.0.1:5000/v3',
    auth_url: 'http://127.0.0.1:5000/v3',
    username: 'nova',
    password: '',
    project_name: 'service',
    user_domain_name: 'Default',
    project_domain_name: 'Default',
  });
  assert.deepEqual(config.database, { connection: 'sqlite:////var/lib/berth/berth.sqlite' });
  assert.deepEqual(config.glance, {
    api_servers: ['http://127.0.0.1:8774/image'],
    external: false,
  });
});

test('list options are comma-separated and name only known items', () => {
  const config = loadConfig({
    env: { BERTH_FILTER_SCHEDULER_ENABLED_FILTERS: 'ComputeFilter, AvailabilityZoneFilter' },
  });
  assert.deepEqual(config.filter_scheduler.enabled_filters, [
    'ComputeFilter',
    'AvailabilityZoneFilter',
  ]);
  assert.throws(
    () => loadConfig({ env: { BERTH_FILTER_SCHEDULER_ENABLED_FILTERS: 'ComputeFilter,NoSuch' } }),
    /NoSuch is not one of/,
  );
});

test('INI values are parsed and converted to their types', () => {
  const file = writeConf(`
[DEFAULT]
host = node-1
report_interval = 30
log_level = WARN

[oslo_messaging_rabbit]
amqp_durable_queues = yes
rabbit_quorum_queue = 1

[compute]
console_log_max_bytes = 8192
stop_timeout = 2.5
user_namespace = true
default_command = /bin/sh -c "sleep 1"

[api]
listen = [::1]:9000
auth_strategy = keystone

[keystone_authtoken]
password = "s3cr#t"
`);
  const config = loadConfig({ path: file, env: {} });
  assert.equal(config.DEFAULT.host, 'node-1');
  assert.equal(config.DEFAULT.report_interval, 30);
  assert.equal(config.DEFAULT.log_level, 'warn');
  assert.equal(config.oslo_messaging_rabbit.amqp_durable_queues, true);
  assert.equal(config.oslo_messaging_rabbit.rabbit_quorum_queue, true);
  assert.equal(config.compute.console_log_max_bytes, 8192);
  assert.equal(config.compute.stop_timeout, 2.5);
  assert.equal(config.compute.user_namespace, true);
  assert.equal(config.compute.default_command, '/bin/sh -c "sleep 1"');
  assert.equal(config.compute.console_log_backups, 1);
  assert.equal(config.api.listen, '[::1]:9000');
  assert.equal(config.api.auth_strategy, 'keystone');
  assert.equal(config.keystone_authtoken.password, 's3cr#t');
});

test('strings that ini would turn into booleans or null stay strings', () => {
  const file = writeConf('[keystone_authtoken]\nusername = true\npassword = null\n');
  const config = loadConfig({ path: file, env: {} });
  assert.equal(config.keystone_authtoken.username, 'true');
  assert.equal(config.keystone_authtoken.password, 'null');
});

test('environment overrides beat the file', () => {
  const file = writeConf('[DEFAULT]\nhost = from-file\n[compute]\nconsole_log_max_bytes = 8192\n');
  const config = loadConfig({
    path: file,
    env: {
      BERTH_DEFAULT_HOST: 'from-env',
      BERTH_COMPUTE_CONSOLE_LOG_MAX_BYTES: '16384',
      BERTH_OSLO_MESSAGING_RABBIT_AMQP_DURABLE_QUEUES: 'on',
      BERTH_LOG_LEVEL: 'debug',
    },
  });
  assert.equal(config.DEFAULT.host, 'from-env');
  assert.equal(config.compute.console_log_max_bytes, 16384);
  assert.equal(config.oslo_messaging_rabbit.amqp_durable_queues, true);
});

test('a bad value names the option, the value and what was expected', () => {
  const file = writeConf('[compute]\nconsole_log_max_bytes = abc\n');
  const err = configError(() => loadConfig({ path: file, env: {} }));
  assert.equal(err.section, 'compute');
  assert.equal(err.key, 'console_log_max_bytes');
  assert.equal(err.value, 'abc');
  assert.equal(err.expected, 'must be a number');
  assert.equal(
    err.message,
    'invalid configuration: [compute] console_log_max_bytes = "abc": must be a number',
  );
});

test('range, enum, boolean and path errors report the raw value', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ BERTH_COMPUTE_CONSOLE_LOG_MAX_BYTES: '100' }, /= "100" .*greater than or equal to 4096/],
    [{ BERTH_COMPUTE_CONSOLE_LOG_BACKUPS: '11' }, /= "11" .*less than or equal to 10/],
    [{ BERTH_DEFAULT_LOG_LEVEL: 'loud' }, /= "loud" .*one of \[error, warn, info, debug\]/],
    [{ BERTH_DEFAULT_DEBUG: 'maybe' }, /= "maybe" .*must be a boolean/],
    [{ BERTH_DEFAULT_STATE_PATH: 'relative/dir' }, /= "relative\/dir" .*absolute path/],
    [{ BERTH_API_LISTEN: '127.0.0.1' }, /= "127.0.0.1" .*must be host:port/],
    [{ BERTH_API_LISTEN: 'localhost:70000' }, /= "localhost:70000" .*must be host:port/],
    [{ BERTH_KEYSTONE_AUTHTOKEN_AUTH_URL: 'keystone' }, /= "keystone" .*uri/],
  ];
  for (const [env, pattern] of cases) {
    const err = configError(() => loadConfig({ env }));
    assert.match(err.message, pattern);
    assert.match(err.message, new RegExp(`\\(from ${Object.keys(env)[0]}\\)`));
  }
});

test('debug = true implies log_level = debug', () => {
  const config = loadConfig({
    env: { BERTH_DEFAULT_DEBUG: 'true', BERTH_DEFAULT_LOG_LEVEL: 'warn' },
  });
  assert.equal(config.DEFAULT.log_level, 'debug');
});

test('unknown options and sections are rejected by name', () => {
  const option = configError(() =>
    loadConfig({ path: writeConf('[compute]\nconsole_log_max_byte = 1\n'), env: {} }),
  );
  assert.equal(option.section, 'compute');
  assert.equal(option.key, 'console_log_max_byte');
  assert.match(option.message, /\[compute\] console_log_max_byte: not a known option/);
  assert.match(option.message, /console_log_max_bytes/);

  const section = configError(() =>
    loadConfig({ path: writeConf('[computer]\nx = 1\n'), env: {} }),
  );
  assert.equal(section.section, 'computer');
  assert.match(section.message, /\[computer\]: not a known section/);

  const env = configError(() => loadConfig({ env: { BERTH_COMPUTE_STOP_TIMEOUTS: '1' } }));
  assert.equal(env.key, 'stop_timeouts');
  assert.match(env.message, /\[compute\] stop_timeouts \(from BERTH_COMPUTE_STOP_TIMEOUTS\)/);
});

test('a misspelt option does not echo its value, which may be a secret', () => {
  const file = writeConf('[keystone_authtoken]\npasword = hunter2\n');
  const err = configError(() => loadConfig({ path: file, env: {} }));
  assert.equal(err.value, 'hunter2');
  assert.doesNotMatch(err.message, /hunter2/);
});

test('options before any section header are rejected', () => {
  const file = writeConf('host = node-1\n[DEFAULT]\n');
  const err = configError(() => loadConfig({ path: file, env: {} }));
  assert.equal(err.key, 'host');
  assert.match(err.message, /outside any section/);
});

test('a missing file is an error naming the path', () => {
  const missing = path.join(tmp, 'does-not-exist.conf');
  assert.throws(() => loadConfig({ path: missing, env: {} }), {
    message: `cannot read configuration file "${missing}": no such file`,
  });
});

test('the database connection defaults to a file under state_path', () => {
  const derived = loadConfig({ env: { BERTH_DEFAULT_STATE_PATH: '/srv/berth/' } });
  assert.equal(derived.database.connection, 'sqlite:////srv/berth/berth.sqlite');

  const explicit = loadConfig({
    env: {
      BERTH_DEFAULT_STATE_PATH: '/srv/berth',
      BERTH_DATABASE_CONNECTION: 'mysql+pymysql://nova:pw@db/berth',
    },
  });
  assert.equal(explicit.database.connection, 'mysql+pymysql://nova:pw@db/berth');
});

test('the sample documents every option with its default', () => {
  const sample = readFileSync(samplePath, 'utf8');
  const documented: Record<string, string[]> = {};
  let section = '';
  for (const line of sample.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    const option = /^#(\w+) =/.exec(line);
    if (header) section = header[1];
    if (option) (documented[section] ??= []).push(option[1]);
  }
  assert.deepEqual(documented, OPTION_NAMES);

  // Uncommented, the sample must load and equal the defaults, apart from the
  // placeholder host name and that api_servers, once set, names an external Glance.
  // my_ip's placeholder is not an address: that one line stays commented.
  const uncommented = writeConf(
    sample.replace(/^#(\w+ =)/gm, '$1').replace(/^my_ip = .*$/m, '#$&'),
  );
  const config = loadConfig({ path: uncommented, env: {} });
  const defaults = loadConfig({ env: {} });
  assert.equal(config.DEFAULT.host, "<the machine's hostname>");
  assert.deepEqual(
    {
      ...config,
      DEFAULT: { ...config.DEFAULT, host: defaults.DEFAULT.host },
      glance: { ...config.glance, external: false },
    },
    defaults,
  );
});

test('[glance] api_servers is a list; set, it names an external Glance', () => {
  const config = loadConfig({
    env: { BERTH_GLANCE_API_SERVERS: 'http://127.0.0.1:9292, http://10.0.0.2:9292/' },
  });
  assert.deepEqual(config.glance, {
    api_servers: ['http://127.0.0.1:9292', 'http://10.0.0.2:9292/'],
    external: true,
  });
  assert.throws(
    () => loadConfig({ env: { BERTH_GLANCE_API_SERVERS: 'http://a:1,ftp://b' } }),
    /ftp:\/\/b is not an http\(s\) URL/,
  );
});
