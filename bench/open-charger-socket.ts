import WebSocket from 'ws';

/**
 * Opens an OCPP-J 1.6 socket as charger `id` (Basic auth), for the bench's load clients. Resolves
 * the open socket, or why it did not open (HTTP status or socket error code), for the failure counts.
 */
export function openChargerSocket(urlTemplate: string, id: string, password: string): Promise<WebSocket | { failed: string }> {
  const url = urlTemplate.replace('{id}', encodeURIComponent(id));
  const auth = `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}`;
  return new Promise((resolve) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, ['ocpp1.6'], { perMessageDeflate: false, handshakeTimeout: 30_000, headers: { authorization: auth } });
    } catch (err) {
      resolve({ failed: String((err as Error).message) });
      return;
    }
    ws.once('unexpected-response', (_req, res) => {
      resolve({ failed: `HTTP ${res.statusCode}` });
      ws.terminate();
    });
    ws.once('error', (err: Error & { code?: string }) => resolve({ failed: err.code ?? err.message.slice(0, 80) }));
    ws.once('open', () => {
      ws.removeAllListeners('error');
      ws.removeAllListeners('unexpected-response');
      // A frame that came with the handshake's response (the platform sends a charger its limit as
      // soon as it connects) was emitted before the caller, resumed after this promise, listened:
      // the call went unanswered, and the platform sent that charger nothing for 15 s (its 10 s
      // profile timeout, then its 5 s retry wait), a raise timed meanwhile included. Reading waits
      // for the caller's first 'message' listener.
      ws.pause();
      const resumeWhenHeard = (event: string | symbol): void => {
        if (event !== 'message') return;
        ws.off('newListener', resumeWhenHeard);
        queueMicrotask(() => ws.resume());
      };
      ws.on('newListener', resumeWhenHeard);
      resolve(ws);
    });
  });
}
