import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** How a platform node process is started: `node [--import tsx] <script>`. */
export interface PlatformEntry {
  script: string;
  tsx: boolean;
  label: string;
}

/** Checkouts whose build was made by this process. */
const built = new Set<string>();

/**
 * What a measured platform node (the simulator's child mode, the bench) runs: by default the compiled
 * build (`tsc -p tsconfig.build.json` into dist/), what `npm start` runs, built once per process.
 * `tsx: true` runs main.ts through tsx instead: the loader alone adds about 40 MiB RSS to an idle
 * node, and its transform gives every named closure an own `name` property (about 6 KiB per idle
 * charger), so it measures the loader as much as the platform. `main`: another checkout's entry
 * point (through tsx). `checkout`: another checkout's compiled build, built there once (an A/B of two
 * versions in one run).
 */
export function platformEntry(opts: { tsx?: boolean; main?: string; checkout?: string; log?: (line: string) => void } = {}): PlatformEntry {
  if (opts.main) return { script: opts.main, tsx: true, label: `${opts.main} (tsx)` };
  if (opts.checkout) return compiledEntry(resolve(opts.checkout), opts.log);
  if (opts.tsx) return { script: 'main.ts', tsx: true, label: 'main.ts (tsx)' };
  return compiledEntry(REPO_ROOT, opts.log);
}

function compiledEntry(root: string, log: ((line: string) => void) | undefined): PlatformEntry {
  if (!built.has(root)) {
    log?.(`building the platform in ${root} (tsc -p tsconfig.build.json) ...`);
    execFileSync(process.execPath, [resolve(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
    built.add(root);
  }
  return root === REPO_ROOT
    ? { script: 'dist/main.js', tsx: false, label: 'dist/main.js (compiled build)' }
    : { script: resolve(root, 'dist/main.js'), tsx: false, label: `${root}/dist/main.js (compiled build)` };
}
