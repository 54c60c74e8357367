/**
 * Tempest's compute and volume API tests against berth behind a real
 * Keystone (fixtures/toolchain-cloud.ts): ≥ 95% of the tests Tempest runs
 * (not skipped) pass. The full results go to artifacts/tempest/; the network
 * tests, slow under Debian's Tempest (10 s sleep per subnet delete), run
 * only with BERTH_TEMPEST_NETWORK=1.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { needsRoot, projectRoot, tempStateDir } from './harness';
import {
  keystoneMissing,
  startToolchainCloud,
  type ToolchainCloud,
} from './fixtures/toolchain-cloud';
import {
  report,
  summarize,
  TEMPEST,
  tempestWorkspace,
  type TempestWorkspace,
} from './fixtures/tempest';

const ARTIFACTS = path.join(projectRoot, 'artifacts', 'tempest');

function skipReason(): string | undefined {
  if (!fs.existsSync(TEMPEST)) return "tempest not found: install Debian's tempest package";
  return needsRoot() ?? keystoneMissing();
}

describe('Tempest against berth', { skip: skipReason() }, () => {
  let cloud: ToolchainCloud;
  let workspace: TempestWorkspace;
  let dir: string;

  before(
    async () => {
      cloud = await startToolchainCloud();
      const flavor = async (name: string, ram: number) => {
        const r = await cloud.api('POST', '/v2.1/flavors', {
          body: { flavor: { name, ram, vcpus: 1, disk: 0 } },
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.flavor.id as string;
      };
      dir = tempStateDir('tempest');
      workspace = await tempestWorkspace(cloud, dir, {
        imageRef: await cloud.uploadImage('tempest-busybox'),
        imageRefAlt: await cloud.uploadImage('tempest-busybox-alt'),
        flavorRef: await flavor('tempest.tiny', 64),
        flavorRefAlt: await flavor('tempest.small', 128),
      });
    },
    { timeout: 300_000 },
  );

  after(async () => {
    await cloud?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const suite = (name: string, regex: string, o: { skip?: string } = {}) =>
    test(
      `${name}: ≥ 95% of the tests run pass`,
      { timeout: 3_600_000, skip: o.skip },
      async (t) => {
        const run = await workspace.run(regex);
        fs.mkdirSync(ARTIFACTS, { recursive: true });
        const file = path.join(ARTIFACTS, `${name}.md`);
        fs.writeFileSync(file, report(`Tempest ${regex}`, run));
        const s = summarize(run.results);
        t.diagnostic(
          `${name}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped in ${run.seconds.toFixed(0)} s; ${file}`,
        );
        assert.ok(s.total > 0, `tempest ran nothing:\n${run.output}`);
        assert.ok(s.passRate >= 0.95, `pass rate ${(s.passRate * 100).toFixed(1)}%: see ${file}`);
      },
    );

  suite('compute', '^tempest\\.api\\.compute');
  suite('volume', '^tempest\\.api\\.volume');
  suite('network', '^tempest\\.api\\.network', {
    skip: process.env.BERTH_TEMPEST_NETWORK === '1' ? undefined : 'set BERTH_TEMPEST_NETWORK=1',
  });
});
