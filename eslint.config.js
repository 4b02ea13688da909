import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layersRule } from './eslint-layers.js';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.modelhub/**', 'bench/results.json', 'hub-server/web/vendor/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
  {
    // Layers only point down: see eslint-layers.js and docs/architecture.md.
    plugins: { modelhub: { rules: { layers: layersRule } } },
    rules: { 'modelhub/layers': 'error' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
  },
  {
    // Node entry points written as plain modules: the worker boots and the build script.
    files: ['servables/*.mjs', 'scripts/*.mjs'],
    languageOptions: { globals: { process: 'readonly', URL: 'readonly' } },
  },
);
