import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { progressBar } from './progress.js';
import { writeReport } from './report.js';
import { defaultCompression, runScenario } from './runner.js';
import { loadScenario } from './scenario.js';

/**
 * `npm run sim -- <scenario> [--compression N] [--child|--in-process] [--out reports]`
 * Runs one scenario from `scenarios/` against a fresh platform node and writes
 * `reports/<scenario>-<time>/metrics.json` and `index.html`. Exit code 1 when a pass line fails.
 */
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    compression: { type: 'string' },
    child: { type: 'boolean', default: false },
    'in-process': { type: 'boolean', default: false },
    out: { type: 'string', default: 'reports' },
    quiet: { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  const name = positionals[0];
  if (!name) {
    process.stderr.write('usage: npm run sim -- <scenario> [--compression N] [--child|--in-process] [--out reports]\n');
    process.exit(2);
  }
  const scenario = loadScenario(name);
  const chargers = scenario.installations.reduce((n, i) => n + i.chargers.length, 0);
  // Large runs put the platform in its own process, so its CPU and memory can be measured.
  const mode = values.child ? 'child' : values['in-process'] ? 'in-process' : chargers > 200 ? 'child' : 'in-process';
  const compression = values.compression ? Number(values.compression) : defaultCompression(scenario);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const dir = join(values.out ?? 'reports', `${scenario.file}-${stamp}`);
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`${scenario.name}: ${scenario.installations.length} installations, ${chargers} chargers, ${scenario.durationS} s at ${compression}x, platform ${mode}\n`);
  const result = await runScenario(scenario, {
    compression,
    mode,
    platformLogFile: join(dir, 'platform.log'),
    onProgress: values.quiet ? undefined : progressBar(scenario.file),
  } as Parameters<typeof runScenario>[1]);
  writeReport(result, dir);
  const m = result.metrics;
  for (const p of m.pass) process.stderr.write(`${p.pass ? 'PASS' : 'FAIL'}  ${p.name}: ${p.value ?? '—'} (${p.limit})\n`);
  if (result.run.platform) process.stderr.write(`platform: ${result.run.platform.cpuS} s CPU (${result.run.platform.cpuPct} %), RSS ${result.run.platform.rssMiB} MiB (peak ${result.run.platform.peakRssMiB})\n`);
  process.stderr.write(`report: ${join(dir, 'index.html')}\n`);
  process.exit(m.passed ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
