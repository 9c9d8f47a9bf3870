import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { settledMemory, sleep } from './children.js';
import { type ConnectedReport, isEvent, spawnLoadClient } from './load-gen.js';
import { seedFleet, startBenchNats } from './platform-fleet.js';
import { startPlatformServer, waitForBalancers } from './servers.js';

/**
 * `npx tsx bench/rss-timeline.ts [--chargers=N] [--seconds=S] [--node-options='...']`
 *
 * How one platform node's RSS and V8 heap spaces evolve after a connect storm of N idle chargers
 * (Basic auth + BootNotification), sampled every 2 s without any forced GC (does V8's memory
 * reducer give pages back by itself?), then once more after the bench's forced full GC. Figures
 * are per charger, against the node's settled baseline.
 */
const { values: flags } = parseArgs({
  options: {
    chargers: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '60' },
    'node-options': { type: 'string' },
    every: { type: 'string', default: '2' },
    /** K=V,K2=V2: more environment of the platform node (e.g. LOG_LEVEL=debug to see its heap-mode switches). */
    env: { type: 'string' },
  },
});
const n = Number(flags.chargers);
const seconds = Number(flags.seconds);
const everyS = Number(flags.every);
/** Node/V8 options of the platform node, given on its command line (NODE_OPTIONS refuses most V8 flags). */
const execArgv = (flags['node-options'] ?? '').split(' ').filter((a) => a !== '');

interface Spaces {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  spaces: Record<string, [number, number]>;
}

const nodeEnv = Object.fromEntries((flags.env ?? '').split(',').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const tracing = execArgv.some((a) => a.startsWith('--trace-gc'));
const traceFile = join(tmpdir(), `rss-timeline-gc-${process.pid}.txt`);
const gcTrace: string[] = [];
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const kib = (b: number): number => b / 1024;

async function main(): Promise<void> {
  const nats = await startBenchNats();
  try {
    const seeded = await seedFleet(nats.url, n, { perInstallation: 100, concurrency: 200 });
    const server = await startPlatformServer(nats.url, 'timeline', 'platform node', nodeEnv, execArgv);
    try {
      // With --trace-gc among the options: the node's whole GC trace goes to a file (the Child keeps a tail only).
      if (tracing) server.child.proc.stdout?.on('data', (chunk: Buffer) => gcTrace.push(chunk.toString()));
      await waitForBalancers([server], seeded.installations);
      const base = await settledMemory(server.child, 3_000);
      out(`baseline settled at ${new Date().toISOString()}`);
      const sample = async (): Promise<Spaces> => {
        server.child.send('spaces');
        return server.child.nextJson<Spaces>(isEvent('spaces'), 10_000, 'spaces');
      };
      const load = spawnLoadClient({ name: 'timeline load', urlTemplate: server.urlTemplate, from: 0, count: n, mode: 'idle', boot: true, batch: 500 });
      try {
        const t0 = Date.now();
        const connected = await load.nextJson<ConnectedReport>(isEvent('connected'), 300_000, 'connected');
        await load.nextJson(isEvent('ready'), 300_000, 'ready');
        const held = connected.connected;
        out(`${held} connected and booted in ${((Date.now() - t0) / 1000).toFixed(1)} s (NODE_OPTIONS=${execArgv.join(' ')})`);
        const per = (bytes: number, baseKiB: number): string => ((kib(bytes) - baseKiB) / held).toFixed(1).padStart(6);
        out('   t s  rss/ch heapTot/ch heapUsed/ch  old committed/used MiB  new committed MiB');
        const tReady = Date.now();
        out(`ready at ${new Date(tReady).toISOString()}`);
        for (;;) {
          const s = await sample();
          const t = (Date.now() - tReady) / 1000;
          const old = s.spaces.old_space ?? [0, 0];
          const young = s.spaces.new_space ?? [0, 0];
          out(
            `${t.toFixed(0).padStart(5)} ${per(s.rss, base.rssKiB)} ${per(s.heapTotal, base.heapTotalKiB).padStart(10)} ${per(s.heapUsed, base.heapUsedKiB).padStart(11)}  ${(old[0] / 1024).toFixed(1).padStart(9)} / ${(old[1] / 1024).toFixed(1).padStart(7)}  ${(young[0] / 1024).toFixed(1).padStart(10)}`,
          );
          if (t >= seconds) break;
          await sleep(everyS * 1_000);
        }
        const after = await settledMemory(server.child, 3_000);
        const s = await sample();
        const old = s.spaces.old_space ?? [0, 0];
        const result = {
          nodeOptions: execArgv.join(' '),
          held,
          rssPerChargerKiB: Number(((after.rssKiB - base.rssKiB) / held).toFixed(1)),
          heapUsedPerChargerKiB: Number(((after.heapUsedKiB - base.heapUsedKiB) / held).toFixed(1)),
          heapTotalPerChargerKiB: Number(((after.heapTotalKiB - base.heapTotalKiB) / held).toFixed(1)),
          oldCommittedMiB: Number((old[0] / 1024).toFixed(1)),
          oldUsedMiB: Number((old[1] / 1024).toFixed(1)),
          baseRssMiB: Number((base.rssKiB / 1024).toFixed(1)),
          loadedRssMiB: Number((after.rssKiB / 1024).toFixed(1)),
        };
        out(`after forced GC: ${JSON.stringify(result)}`);
        const trace = gcTrace.join('').split('\n');
        if (tracing) out(`GC trace: ${trace.filter((l) => l.includes('Mark-Compact')).length} mark-compacts, ${trace.filter((l) => l.includes('Scavenge')).length} scavenges; ${traceFile}`);
        for (const line of trace.filter((l) => l.includes('V8 heap mode'))) out(`  ${line}`);
        if (tracing) writeFileSync(traceFile, trace.join('\n'));
      } finally {
        load.send('stop');
        const timer = setTimeout(() => void load.stop(), 15_000);
        await load.exited;
        clearTimeout(timer);
      }
    } finally {
      await server.stop();
    }
  } finally {
    await nats.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
