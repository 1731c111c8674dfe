// Lint: ESLint's recommended rules and typescript-eslint's, over every TypeScript file, and the
// layout's import boundaries (scripts/eslint/import-boundaries.js).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import paddock from './scripts/eslint/import-boundaries.js';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.paddock/**', 'packages/console/dist/**', 'tests/e2e/output/**'] },
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
  // The web console runs in a browser: its globals, not Node's (its own tsconfig type-checks it).
  {
    files: ['packages/console/web/**/*.{ts,tsx}'],
    languageOptions: {
      globals: {
        window: 'readonly', document: 'readonly', location: 'readonly', sessionStorage: 'readonly', fetch: 'readonly',
        Response: 'readonly', TextDecoderStream: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly',
        HTMLInputElement: 'readonly', HTMLSelectElement: 'readonly', Event: 'readonly', confirm: 'readonly',
        addEventListener: 'readonly', removeEventListener: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly',
        setInterval: 'readonly', clearInterval: 'readonly', console: 'readonly',
      },
    },
  },
);
