import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**', 'src/http/static/**', 'scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'Read configuration in src/config.ts only.' },
      ],
    },
  },
  {
    // The config module, tests, benches and fakes may read the environment.
    files: ['src/config.ts', 'test/**', 'bench/**', 'src/cli/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    // No import cycles in the program (issue 15): two modules that need each other cannot be read
    // top-down and load in an order that depends on who was imported first. The TypeScript resolver
    // maps our `.js` specifiers to the `.ts` sources; packages are not followed (`ignoreExternal`).
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // no-cycle skips type-only imports; the folder direction below counts them too:
      // http -> carriers/transports -> calls -> providers/pipeline -> workers/util (docs/architecture.md).
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              // What ships is the product (issue 15): dist never loads the test tree or the repository's benches.
              target: 'src/**',
              from: ['test', 'bench'],
              message: 'src/ ships in dist: it imports nothing from test/ or bench/. Repository-only bench pieces plug in through src/bench/extension.ts (bench/extension.ts).',
            },
            {
              target: ['src/{calls,carriers,transports,providers,pipeline,workers,util,observability,store,simulator,bench,cluster}/**', 'src/{config,errors}.ts'],
              from: 'src/http',
              message: 'Nothing outside http imports http (issue 15): put the shared piece on the carrier side or in calls.',
            },
            {
              // One folder per carrier (issue 15): carriers build on the neutral media contract, never the reverse.
              target: 'src/transports/**',
              from: 'src/carriers',
              message: 'transports/ holds what is carrier-neutral (media-events.ts, wire.ts, media-reorder.ts, WebRTC); carrier code lives in src/carriers/<name>/ and imports it.',
            },
            { target: 'src/calls/**', from: ['src/carriers', 'src/transports', 'src/http'], message: 'calls sit below carriers and transports.' },
            {
              target: 'src/{providers,pipeline}/**',
              from: ['src/calls', 'src/carriers', 'src/transports', 'src/http'],
              message: 'providers and the pipeline sit below calls.',
            },
            {
              target: 'src/{workers,util}/**',
              from: ['src/calls', 'src/carriers', 'src/transports', 'src/http', 'src/providers', 'src/pipeline'],
              message: 'workers and util sit at the bottom: they import no feature folder.',
            },
          ],
        },
      ],
    },
  },
);
