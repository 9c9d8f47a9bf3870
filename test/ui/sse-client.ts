import { request } from 'node:http';

/** A test client for text/event-stream over a real socket (one socket per stream): collects events as they arrive. */
export interface SseEvent {
  event: string;
  id?: string;
  data: unknown;
}

export interface SseStream {
  status: number;
  events: SseEvent[];
  /** Resolves when the server ended the stream (or close() was called). */
  ended: Promise<void>;
  close(): void;
}

function parseBlock(block: string): SseEvent | undefined {
  const ev: { event: string; id?: string; data: string[] } = { event: 'message', data: [] };
  for (const line of block.split('\n')) {
    const m = /^([a-z]+): ?(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'event') ev.event = m[2]!;
    else if (m[1] === 'id') ev.id = m[2]!;
    else if (m[1] === 'data') ev.data.push(m[2]!);
  }
  return ev.data.length ? { event: ev.event, ...(ev.id ? { id: ev.id } : {}), data: JSON.parse(ev.data.join('\n')) } : undefined;
}

export function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    // agent: false, so that closing a stream closes its socket (no pooled keep-alive socket is left).
    const req = request(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = [];
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const ev = parseBlock(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (ev) events.push(ev);
        }
      });
      const ended = new Promise<void>((r) => {
        res.on('end', r);
        res.on('close', r);
      });
      resolve({ status: res.statusCode ?? 0, events, ended, close: () => req.destroy() });
    });
    req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
    req.end();
  });
}
