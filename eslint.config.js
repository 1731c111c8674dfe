// Lint: ESLint's recommended rules and typescript-eslint's, over every TypeScript file, and the
// layout's import boundaries (scripts/eslint/import-boundaries.js).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import paddock from './scripts/eslint/import-boundaries.js';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.paddock/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', fetch: 'readonly', AbortSignal: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly' } },
    plugins: { paddock },
    rules: {
      'paddock/import-boundaries': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      'no-control-regex': 'off',
    },
  },
);
