import { startThrowawayNats, type EmbeddedNats } from '../../core/embedded-nats.js';

/** A real nats-server with JetStream on a free port and a throw-away store, per test file. */
export async function startTestNats(): Promise<EmbeddedNats & { cleanup(): Promise<void> }> {
  const server = await startThrowawayNats('nats-test');
  return { ...server, cleanup: () => server.stop() };
}
