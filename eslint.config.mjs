import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers, lowest first: a folder may import its own layer and those
 * below it, never one above (shared pieces move down instead).
 */
const LAYERS = ['common', 'config', 'native', 'messaging', 'nova', 'driver', 'api', 'cli'];

// Matches a relative import that climbs to the top of the tree and enters `folder`.
const into = (folder) => `^(\\.\\./)+${folder}(/|$)`;

function layerRules(layer) {
  const above = LAYERS.slice(LAYERS.indexOf(layer) + 1);
  const upward = above.map((folder) => ({
    regex: into(folder),
    message: `${layer}/ sits below ${folder}/ and may not import it; move what both need down.`,
  }));
  const helpers = {
    regex: into('testing'),
    message: 'testing/ is for tests: production code may not import it.',
  };
  return [
    {
      files: [`${layer}/**/*.ts`],
      rules: { 'no-restricted-imports': ['error', { patterns: [...upward, helpers] }] },
    },
    {
      files: [`${layer}/**/*.test.ts`],
      rules: { 'no-restricted-imports': ['error', { patterns: upward }] },
    },
  ];
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'native/build/', 'build/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // bench/, integration-tests/ and testing/ sit above every layer and may import anything.
  ...LAYERS.flatMap(layerRules),
);
