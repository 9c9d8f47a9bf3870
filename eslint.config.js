import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import checkFile from 'eslint-plugin-check-file';
import globals from 'globals';

/**
 * The import graph, enforced. core/ and ocpp/ are the bottom (core may use ocpp's wire types);
 * south/ (chargers) builds on them; north/ (partner) builds on south; balancer/ and api/ talk to
 * chargers over NATS only. south/ and north/ are used from outside through their index.ts alone.
 * Tests may reach into any folder.
 */
const folders = ['core', 'ocpp', 'south', 'north', 'balancer', 'api', 'sim', 'bench'];
const forbidden = {
  core: ['south', 'north', 'balancer', 'api', 'sim', 'bench'],
  ocpp: ['core', 'south', 'north', 'balancer', 'api', 'sim', 'bench'],
  south: ['north', 'balancer', 'api', 'sim', 'bench'],
  north: ['balancer', 'api', 'sim', 'bench'],
  balancer: ['south', 'north', 'api', 'sim', 'bench'],
  api: ['south', 'north', 'balancer', 'sim', 'bench'],
  sim: ['south', 'north', 'api', 'bench'],
  bench: ['south', 'north', 'api'],
};
const publicOnly = ['south', 'north'];

function importRules(folder) {
  const banned = forbidden[folder] ?? [];
  const patterns = banned.map((f) => ({ group: [`**/${f}/*`], message: `${folder ?? 'main'}/ must not depend on ${f}/ (see eslint.config.js)` }));
  for (const f of publicOnly) {
    if (f === folder || banned.includes(f)) continue;
    patterns.push({ group: [`**/${f}/*`, `!**/${f}/index.js`], message: `use ${f}/index.js, the folder's public interface` });
  }
  return { 'no-restricted-imports': ['error', { patterns }] };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'reports/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    plugins: { 'check-file': checkFile },
    rules: {
      'check-file/filename-naming-convention': ['error', { '**/*.ts': 'KEBAB_CASE' }, { ignoreMiddleExtensions: true }],
      'check-file/folder-naming-convention': ['error', { '**/': 'KEBAB_CASE' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // The dashboard's plain ES modules run in the browser.
  { files: ['api/ui/**/*.js'], languageOptions: { globals: globals.browser } },
  { files: ['*.ts'], rules: importRules(undefined) },
  ...folders.map((folder) => ({ files: [`${folder}/**/*.ts`], rules: importRules(folder) })),
);
