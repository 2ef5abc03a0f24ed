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
      // `typeof import('x')` stays allowed: it types a module that is loaded lazily, on purpose.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // Control characters in patterns are deliberate here (label values, terminal output are checked for them).
      'no-control-regex': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  // The status page's browser script has its own tsconfig (DOM lib, no Node types).
  {
    files: ['collector/status-page/page.ts'],
    languageOptions: { parserOptions: { projectService: false, project: './tsconfig.page.json', tsconfigRootDir: import.meta.dirname } },
  },
  // instrumentation/ runs inside stdio MCP servers, which own stdout: it never names it. The commands
  // (wrap, catalog) are handed their streams by bin/mcplens.ts.
  {
    files: ['instrumentation/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'stdout', message: 'A stdio MCP server owns stdout: take a stream from the caller.' },
      ],
    },
  },
  // Library code never writes to the console: stdio servers own stdout; diagnostics go through diag or stderr.
  { files: LIBRARY, rules: { 'no-console': 'error' } },
);
