// ESLint flat config: the house rules that a reviewer would otherwise repeat by hand.
// Typed rules (no-floating-promises) read tsconfig.json through the project service.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const LIBRARY = ['contract/**/*.ts', 'instrumentation/**/*.ts', 'collector/**/*.ts', 'dashboards/**/*.ts'];

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**', 'test-artifacts/**', 'compose/**', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // Library code never writes to the console: stdio servers own stdout; diagnostics go through diag or stderr.
  { files: LIBRARY, rules: { 'no-console': 'error' } },
);
