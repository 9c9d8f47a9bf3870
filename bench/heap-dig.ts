import { sleep } from './children.js';
import { isEvent, spawnLoadClient } from './load-gen.js';
import { seedFleet, startBenchNats } from './platform-fleet.js';
import { startPlatformServer } from './servers.js';

const N = Number(process.argv[2] ?? 1000);
const nats = await startBenchNats();
await seedFleet(nats.url, N, {});
const server = await startPlatformServer(nats.url, 'dig', 'dig');
const snap = async (f: string): Promise<void> => {
  server.child.send(`heap-snapshot ${f}`);
  await server.child.nextJson(isEvent('heap-snapshot'), 300_000, 'snap');
};
await sleep(2000);
await snap('/tmp/dig-before.heapsnapshot');
const load = spawnLoadClient({ name: 'l', urlTemplate: server.urlTemplate, from: 0, count: N, mode: 'idle', boot: true, batch: 500 });
await load.nextJson(isEvent('ready'), 300_000, 'ready');
await sleep(2000);
await snap('/tmp/dig-after.heapsnapshot');
load.send('stop');
await load.stop();
await server.stop();
await nats.stop();
process.exit(0);
