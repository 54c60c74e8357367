/**
 * Debian's Horizon against berth, both real (fixtures/horizon.ts,
 * fixtures/toolchain-cloud.ts): the demo member logs in through the login
 * form and the project's pages render with the data berth holds (a server
 * booted through the API with its address, its console output, the image,
 * key pair, network, security group and volume) and none of Horizon's
 * error messages; the admin sees the hypervisor. Each page failure names
 * the berth calls that answered 4xx/5xx while it loaded (berth's request
 * log), which is where a wrong or missing API shows. Screenshots go to
 * artifacts/horizon/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Browser, type Page } from './fixtures/chromium';
import { HorizonSession, horizonMissing, startHorizon, type Horizon } from './fixtures/horizon';
import {
  keystoneMissing,
  startToolchainCloud,
  type ToolchainCloud,
} from './fixtures/toolchain-cloud';
import { needsRoot, waitFor } from './harness';

const SERVER = 'hz-server';
const IMAGE = 'hz-busybox';
const KEYPAIR = 'hz-key';
const NETWORK = 'hz-net';
const VOLUME = 'hz-volume';
/** What the server prints on its console: the Log tab must show it. */
const CONSOLE_MARK = 'horizon-console-mark';

/** A page expression: Horizon shows an error message (HorizonSession.check names it). */
const ERROR_SHOWN = `!!document.querySelector('.alert-danger, .alert-error')`;

/** A page expression: some row of a table on the page has every one of `texts`. */
const rowWith = (...texts: string[]) =>
  `[...document.querySelectorAll('table tbody tr')].some((r) => ${JSON.stringify(texts)}.every((t) => r.innerText.includes(t)))`;

describe(
  'Horizon against berth',
  { skip: needsRoot() ?? keystoneMissing() ?? horizonMissing() },
  () => {
    let cloud: ToolchainCloud;
    let horizon: Horizon;
    let browser: Browser;
    let page: Page;
    let member: HorizonSession;
    let serverId = '';
    let serverIp = '';
    let floatingIp = '';

    /** The demo member's call to berth; fails unless it answers `status`. */
    const demo = async (method: string, urlPath: string, status: number, body?: unknown) => {
      const r = await cloud.api(method, urlPath, { body, who: cloud.demo });
      assert.equal(r.status, status, `${method} ${urlPath}: ${JSON.stringify(r.body)}`);
      return r.body;
    };

    /** berth's requests that failed since the `since`-th log line, as its request log has them. */
    const failedCalls = (since: number) =>
      cloud
        .logs()
        .slice(since)
        .filter((l) => l.message === 'request' && Number(l.status) >= 400)
        .map((l) => `${l.method} ${l.url} -> ${l.status}`);

    /** Horizon's log since `since` characters, without uwsgi's per-request lines. */
    const horizonLog = (since: number) =>
      horizon
        .log()
        .slice(since)
        .split('\n')
        .filter((l) => l && !l.startsWith('[pid: '))
        .slice(-40)
        .join('\n  ');

    /**
     * session.visit() until the page `shows` (a page expression) or an error
     * message appears, which fails it; a page that shows neither fails too.
     * A failure carries berth's failed calls and Horizon's log lines of the
     * page, which say what was asked of berth and what Horizon made of it.
     */
    const visit = async (session: HorizonSession, name: string, urlPath: string, shows: string) => {
      const since = { berth: cloud.logs().length, horizon: horizon.log().length };
      try {
        await session.visit(name, urlPath, `(${shows}) || ${ERROR_SHOWN}`);
        assert.ok(
          await session.page.evaluate(shows),
          `${name} (${urlPath}) does not show ${shows}`,
        );
      } catch (err) {
        const calls = failedCalls(since.berth);
        const logged = horizonLog(since.horizon);
        // A new error: the reporter prints an assertion's stack, which holds its message as made.
        throw new Error(
          [
            err instanceof Error ? err.message : String(err),
            ...(calls.length ? ["berth's failed calls:", ...calls] : []),
            ...(logged ? ["Horizon's log:", logged] : []),
          ].join('\n  '),
          { cause: err },
        );
      }
    };

    before(
      async () => {
        // info: berth's request log (one line per call), which names what a page got wrong.
        cloud = await startToolchainCloud({ DEFAULT: { log_level: 'info' } });
        const imageId = await cloud.uploadImage(IMAGE);
        // The server's workload prints a line the Log tab must show, then stays up.
        const patched = await fetch(`${cloud.berthUrl}/image/v2/images/${imageId}`, {
          method: 'PATCH',
          headers: {
            'x-auth-token': await cloud.token(),
            'content-type': 'application/openstack-images-v2.1-json-patch',
          },
          body: JSON.stringify([
            {
              op: 'add',
              path: '/os_command_line',
              value: `/bin/sh -c 'echo ${CONSOLE_MARK}; exec sleep 2147483647'`,
            },
          ]),
        });
        assert.equal(patched.status, 200, await patched.text());
        const flavor = await cloud.api('POST', '/v2.1/flavors', {
          body: { flavor: { name: 'hz.tiny', ram: 64, vcpus: 1, disk: 0 } },
        });
        assert.equal(flavor.status, 200, JSON.stringify(flavor.body));

        const network = await demo('POST', '/network/v2.0/networks', 201, {
          network: { name: NETWORK },
        });
        await demo('POST', '/network/v2.0/subnets', 201, {
          subnet: {
            name: `${NETWORK}-subnet`,
            network_id: network.network.id,
            cidr: '10.30.0.0/24',
            ip_version: 4,
          },
        });
        await demo('POST', '/v2.1/os-keypairs', 200, { keypair: { name: KEYPAIR } });
        const { project } = await cloud.keystone
          .call(await cloud.token(), 'GET', '/projects?name=demo')
          .then((r) => ({ project: r.projects[0].id as string }));
        await demo('POST', `/volume/v3/${project}/volumes`, 202, {
          volume: { name: VOLUME, size: 1 },
        });
        const created = await demo('POST', '/v2.1/servers', 202, {
          server: {
            name: SERVER,
            imageRef: imageId,
            flavorRef: flavor.body.flavor.id,
            key_name: KEYPAIR,
            networks: [{ uuid: network.network.id }],
          },
        });
        serverId = created.server.id;
        const server = await waitFor(
          `${SERVER} to be ACTIVE`,
          async () => {
            const { server: s } = await demo('GET', `/v2.1/servers/${serverId}`, 200);
            assert.notEqual(s.status, 'ERROR', JSON.stringify(s.fault));
            return s.status === 'ACTIVE' && s;
          },
          120_000,
          250,
        );
        serverIp = server.addresses[NETWORK][0].addr;
        const fip = await demo('POST', '/network/v2.0/floatingips', 201, {
          floatingip: { floating_network_id: cloud.publicNetworkId },
        });
        floatingIp = fip.floatingip.floating_ip_address;
        await waitFor(`${SERVER}'s console output`, async () => {
          const r = await demo('POST', `/v2.1/servers/${serverId}/action`, 200, {
            'os-getConsoleOutput': { length: null },
          });
          return (r.output as string).includes(CONSOLE_MARK);
        });

        horizon = await startHorizon({ keystoneUrl: cloud.keystoneUrl });
        browser = await Browser.launch();
        page = await browser.newPage();
        member = new HorizonSession(page, horizon, 'member');
        await member.login(cloud.demo.username, cloud.demo.password);
      },
      { timeout: 600_000 },
    );

    after(async () => {
      await browser?.close();
      await horizon?.close();
      await cloud?.close();
    });

    test('Project > Compute > Instances lists the server with its address, Active', async () => {
      await visit(member, 'instances', '/project/instances/', rowWith(SERVER, serverIp, 'Active'));
    });

    test("the instance's Overview tab", async () => {
      await visit(
        member,
        'instance-overview',
        `/project/instances/${serverId}/?tab=instance_details__overview`,
        `document.querySelector('.detail')?.innerText.includes(${JSON.stringify(serverId)})`,
      );
    });

    test("the instance's Interfaces tab lists its port", async () => {
      await visit(
        member,
        'instance-interfaces',
        `/project/instances/${serverId}/?tab=instance_details__interfaces`,
        rowWith(serverIp),
      );
    });

    test("the instance's Log tab shows its console output", async () => {
      await visit(
        member,
        'instance-log',
        `/project/instances/${serverId}/?tab=instance_details__log`,
        `document.querySelector('pre.logs')?.innerText.includes(${JSON.stringify(CONSOLE_MARK)})`,
      );
    });

    test("the instance's Console tab opens the serial console", async () => {
      await visit(
        member,
        'instance-console',
        `/project/instances/${serverId}/?tab=instance_details__console`,
        `document.querySelector('iframe#console_embed')?.contentDocument?.readyState === 'complete'`,
      );
    });

    test('the serial console page runs a command typed into it', async () => {
      const { page } = member;
      const terminal = `document.querySelector('.xterm, .terminal')`;
      await visit(
        member,
        'serial-console',
        `/project/instances/${serverId}/serial`,
        `!!${terminal}`,
      );
      const screen = `(${terminal}?.innerText ?? '')`;
      // The shell's prompt first: what is typed before the websocket is open would be lost.
      // Any blank after the prompt: the terminal pads its rows with no-break spaces.
      await page.waitFor('the shell prompt', `/[#$]\\s*$/m.test(${screen})`);
      await page.click('.xterm-helper-textarea, .terminal');
      // The output differs from what is typed: the line is the shell's, not the echo of the keys.
      await page.keys('echo hz-$((6*7))\n');
      await page.waitFor('the command output', `${screen}.includes('hz-42')`);
      await member.check(
        'serial-console-typed',
        'the serial console',
        200,
        `${screen}.includes('hz-42')`,
      );
    });

    test('Images lists the image', async () => {
      await visit(member, 'images', '/project/images', rowWith(IMAGE, 'Active'));
    });

    test('Key Pairs lists the key pair', async () => {
      await visit(member, 'key-pairs', '/project/key_pairs', rowWith(KEYPAIR));
    });

    test('Network > Networks lists the network and its subnet', async () => {
      await visit(member, 'networks', '/project/networks/', rowWith(NETWORK, '10.30.0.0/24'));
    });

    test('Security Groups lists the default group', async () => {
      await visit(member, 'security-groups', '/project/security_groups/', rowWith('default'));
    });

    test('Volumes lists the volume, Available', async () => {
      // Said apart from the page: a volume no volume host took stays `creating` in the list.
      await waitFor(`${VOLUME} to be available (a volume host serving it)`, async () => {
        const { volumes } = await demo('GET', `/volume/v3/volumes/detail`, 200);
        return volumes.some(
          (v: { name: string; status: string }) => v.name === VOLUME && v.status === 'available',
        );
      });
      await visit(member, 'volumes', '/project/volumes/', rowWith(VOLUME, 'Available'));
    });

    test('Floating IPs lists the allocated address', async () => {
      await visit(member, 'floating-ips', '/project/floating_ips/', rowWith(floatingIp));
    });

    test('Network Topology draws the network', async () => {
      await visit(
        member,
        'network-topology',
        '/project/network_topology/',
        `[...document.querySelectorAll('svg text')].some((t) => t.textContent.includes(${JSON.stringify(NETWORK)}))`,
      );
    });

    test('Launch Instance: the wizard boots a server from a new volume, on the network, that becomes Active', async () => {
      const name = 'hz-launched';
      const { page } = member;
      await visit(member, 'launch', '/project/instances/', rowWith(SERVER));
      await page.click('a.btn-launch');
      await page.waitFor(
        'the wizard',
        `!!document.querySelector('.ng-wizard #name')?.offsetParent`,
      );
      await page.type('.ng-wizard #name', name);
      /** Moves the row with `rowText` of the `step`'s Available table to Allocated (if it is not there yet). */
      const allocate = async (step: string, rowText: string) => {
        await page.evaluate(
          `[...document.querySelectorAll('.wizard-nav li')].find((li) => li.innerText.trim() === ${JSON.stringify(step)}).click()`,
        );
        await page.waitFor(
          `${rowText} allocated in the ${step} step`,
          `(() => {
             const rows = [...document.querySelectorAll('.ng-wizard .step tr')].filter((r) => r.offsetParent && r.innerText.includes(${JSON.stringify(rowText)}));
             if (rows.some((r) => r.querySelector('.fa-arrow-down'))) return true;
             rows.find((r) => r.querySelector('.fa-arrow-up'))?.querySelector('.fa-arrow-up').closest('button').click();
             return false; })()`,
        );
      };
      // Source: the image, on a new volume (boot from volume) that goes with the instance.
      await page.evaluate(
        `[...document.querySelectorAll('.wizard-nav li')].find((li) => li.innerText.trim() === 'Source').click()`,
      );
      /** Clicks the `n`th visible Yes label of the Source step: 0 Create New Volume, 1 Delete Volume on Instance Delete. */
      const yes = async (n: number) => {
        const labels = `[...document.querySelectorAll('.ng-wizard .step label')].filter((l) => l.offsetParent && l.innerText.trim() === 'Yes')`;
        await page.waitFor(`Yes number ${n} of the Source step`, `${labels}.length > ${n}`);
        await page.evaluate(`${labels}[${n}].click()`);
      };
      await yes(0);
      await yes(1);
      await allocate('Source', IMAGE);
      await allocate('Flavor', 'hz.tiny');
      await allocate('Networks', NETWORK);
      await page.waitFor(
        'the Launch button',
        `!document.querySelector('.ng-wizard button.finish').disabled`,
      );
      const since = cloud.logs().length;
      await page.click('.ng-wizard button.finish');
      const launched = await waitFor(
        `${name} to be ACTIVE`,
        async () => {
          const { servers } = await demo('GET', `/v2.1/servers/detail?name=${name}`, 200);
          assert.notEqual(servers[0]?.status, 'ERROR', JSON.stringify(servers[0]?.fault));
          return servers[0]?.status === 'ACTIVE' && servers[0];
        },
        120_000,
        500,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}\n  berth's failed calls:\n  ${failedCalls(since).join('\n  ')}`,
        );
      });
      assert.deepEqual(Object.keys(launched.addresses), [NETWORK]);
      const [root] = launched['os-extended-volumes:volumes_attached'];
      assert.ok(root, 'the instance boots from a volume');
      assert.equal(launched.image, '', 'a volume-backed instance has no image');
      await visit(member, 'launched', '/project/instances/', rowWith(name, 'Active'));
    });

    test("Project > Overview shows the project's usage", async () => {
      await visit(member, 'overview', '/project/', rowWith(SERVER));
    });

    test('Admin > Hypervisors, Instances and Flavors (as admin)', async () => {
      const admin = new HorizonSession(await browser.newPage(), horizon, 'admin');
      await admin.page.goto(`${horizon.url}/auth/logout/`);
      await admin.login(cloud.admin.username, cloud.admin.password);
      await visit(admin, 'hypervisors', '/admin/hypervisors/', rowWith(cloud.cgroupParent));
      await visit(admin, 'admin-instances', '/admin/instances/', rowWith(SERVER, 'Active'));
      await visit(admin, 'admin-flavors', '/admin/flavors/', rowWith('hz.tiny'));
    });
  },
);
