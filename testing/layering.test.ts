import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';

// Compiled to dist/testing/: the project root, where eslint.config.mjs is, is two up.
const projectRoot = path.resolve(__dirname, '..', '..');
const eslint = new ESLint({ cwd: projectRoot });

async function importErrors(filePath: string, specifier: string): Promise<string[]> {
  const code = `import { x } from '${specifier}';\nexport const y = x;\n`;
  const [result] = await eslint.lintText(code, { filePath });
  return result.messages
    .filter((m) => m.ruleId === 'no-restricted-imports' && m.severity === 2)
    .map((m) => m.message);
}

test('a layer importing one above it is an error', async () => {
  const violations: [string, string][] = [
    ['messaging/x.ts', '../driver/errors'],
    ['driver/compute/x.ts', '../../api/app'],
    ['common/x.ts', '../config/schema'],
    ['nova/x.ts', '../driver/virt/driver'],
    ['api/routes/x.ts', '../../cli/berth'],
    ['config/x.ts', '../messaging/transport'],
  ];
  for (const [file, specifier] of violations) {
    const errors = await importErrors(file, specifier);
    assert.equal(errors.length, 1, `${file} importing ${specifier}`);
    assert.match(errors[0], /may not import it/);
  }
});

test('production code may not import testing/; tests may', async () => {
  const [error] = await importErrors('api/routes/x.ts', '../../testing/api/test-api');
  assert.match(error, /testing\/ is for tests/);
  assert.deepEqual(await importErrors('api/routes/x.test.ts', '../../testing/api/test-api'), []);
  assert.equal(
    (await importErrors('messaging/x.test.ts', '../driver/errors')).length,
    1,
    'tests keep to their layer too',
  );
});

test('imports down the layers, within a layer, and from the top folders are legal', async () => {
  const legal: [string, string][] = [
    ['messaging/x.ts', '../common/errors'],
    ['driver/compute/x.ts', '../../nova/states'],
    ['driver/virt/x.ts', './driver'],
    ['api/routes/x.ts', '../../driver/image/image-service'],
    ['cli/x.ts', '../api/service'],
    ['testing/api/x.ts', '../../cli/berth'],
    ['integration-tests/x.test.ts', '../testing/api/test-api'],
    ['bench/x.ts', '../integration-tests/compute-harness'],
  ];
  for (const [file, specifier] of legal)
    assert.deepEqual(await importErrors(file, specifier), [], `${file} importing ${specifier}`);
});
