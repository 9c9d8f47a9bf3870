import type { FastifyPluginAsync } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../errors.js';
import { DEFAULT_FEED_OPTIONS, LiveFeeds, type FeedMessage, type FeedOptions, type Sample } from '../live-feed.js';
import { SECURITY, installationParams } from '../schemas.js';
import { requireInstallation } from '../scope.js';

export interface LiveStreamOptions {
  feed?: Partial<FeedOptions>;
  /** A comment line this often keeps proxies from closing a quiet stream. */
  keepAliveMs?: number;
  /**
   * A stream ends after this long and the page reconnects (resuming where it was): the token is
   * checked again on every connection, so a deleted token stops seeing the installation within it.
   */
  maxStreamMs?: number;
}

export const DEFAULT_KEEP_ALIVE_MS = 15_000;
export const DEFAULT_MAX_STREAM_MS = 300_000;
/** What the page waits before reconnecting after the stream ended (the SSE `retry` field). */
const RETRY_MS = 2_000;

const description = [
  'Server-sent events (`text/event-stream`): the installation\'s live status, computed once per installation for every page',
  'watching it and pushed on its NATS events (at most every 500 ms, at least every 2 s).',
  '',
  '- `history`: `{ samples }` with samples `[timeMs, measured L1..L3, allocated L1..L3, limit L1..L3]` of the last hour (at most one per 5 s)',
  '  (or, with a `Last-Event-ID` header, only those after that event: a reconnect resumes where it left off);',
  '- `status` (with an `id`): `{ status, wiring, energy, sample }`, `status` as in `GET /installations/{id}/status`;',
  '- `gone`: the installation was deleted; the stream ends.',
  '',
  'The stream ends after 5 minutes; reconnect with `Last-Event-ID` (the token is checked again on each connection).',
].join('\n');

function send(res: ServerResponse, event: string, data: unknown, id?: string): void {
  res.write(`event: ${event}\n${id ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
}

export function liveRoutes(deps: ApiDeps, opts: LiveStreamOptions = {}): FastifyPluginAsync {
  return async (app) => {
    const feeds = new LiveFeeds(deps, { ...DEFAULT_FEED_OPTIONS, ...opts.feed });
    const open = new Set<ServerResponse>();
    // Open streams would hold the server's close until they end by themselves. Their sockets are
    // closed too: a stream has no next request to wait for, and a client may keep the socket.
    app.addHook('preClose', async () => {
      for (const res of open) res.end(() => res.destroy());
      feeds.close();
    });

    app.get<{ Params: { id: string } }>(
      '/installations/:id/live',
      {
        schema: {
          tags: ['status'],
          summary: 'Live status as server-sent events (the dashboard\'s one stream per page)',
          description,
          security: SECURITY,
          params: installationParams,
          response: {
            200: { description: 'An event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            ...errorResponses(400, 401, 404, 429),
          },
        },
      },
      async (req, reply) => {
        const installation = await requireInstallation(deps, req, req.params.id);
        const lastHeader = req.headers['last-event-id'];
        const lastId = typeof lastHeader === 'string' && lastHeader.length <= 64 ? lastHeader : undefined;
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
        res.write(`retry: ${RETRY_MS}\n\n`);
        open.add(res);

        const listener = (msg: FeedMessage | 'gone'): void => {
          if (msg === 'gone') {
            send(res, 'gone', { installationId: installation.id });
            res.end();
          } else send(res, 'status', { status: msg.status, wiring: msg.wiring, energy: msg.energy, sample: msg.sample }, msg.id);
        };
        const joined = feeds.join(installation.id, listener, lastId);
        send(res, 'history', { samples: joined.missed satisfies Sample[] });
        if (joined.latest) listener(joined.latest);

        const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), opts.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS);
        const maxAge = setTimeout(() => res.end(), opts.maxStreamMs ?? DEFAULT_MAX_STREAM_MS);
        res.on('close', () => {
          clearInterval(keepAlive);
          clearTimeout(maxAge);
          joined.leave();
          open.delete(res);
        });
      },
    );
  };
}
