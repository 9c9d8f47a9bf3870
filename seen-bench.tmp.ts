import { createActor } from 'xstate';
import { chargerMachine } from '/work/wt-arch/south/charger-machine.js';
const a = createActor(chargerMachine, { input: { chargerId: 'c', installationId: 'i', nodeId: 'n', now: 0, heartbeatIntervalS: 300, needsPasswordRotation: false } });
a.start();
for (let i = 0; i < 20000; i++) a.send({ type: 'SEEN', at: i });
const t = process.hrtime.bigint();
const N = 200000;
for (let i = 0; i < N; i++) a.send({ type: 'SEEN', at: 20000 + i });
console.log('us per SEEN', Number(process.hrtime.bigint() - t) / 1000 / N);
