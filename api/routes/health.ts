import type { FastifyPluginAsync } from 'fastify';
import { metricsText } from '../../core/metrics.js';
import type { ApiDeps } from '../deps.js';

const FLUSH_TIMEOUT_MS = 1_000;

async function natsConnected(deps: ApiDeps): Promise<boolean> {
  const nc = deps.bus.nc;
  if (nc.isClosed()) return false;
  let timer: NodeJS.Timeout | undefined;
  try {
    // A round trip to the server: a connection that is reconnecting does not answer.
    return await Promise.race([
      nc.flush().then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), FLUSH_TIMEOUT_MS))),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const healthBody = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'nats', 'nodeId'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded', 'draining'] },
    nats: { type: 'boolean', description: 'Whether this node reaches NATS' },
    nodeId: { type: 'string' },
  },
} as const;

/** Unauthenticated: health for load balancers, metrics for Prometheus. */
export function healthRoutes(deps: ApiDeps, opts: { metricsInstallationLabels?: boolean } = {}): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/health',
      {
        schema: {
          tags: ['operations'],
          summary: 'Node health (503 when NATS is unreachable or the node is shutting down)',
          response: { 200: healthBody, 503: { ...healthBody, description: 'NATS unreachable (degraded) or shutting down (draining)' } },
        },
      },
      async (_req, reply) => {
        const nats = await natsConnected(deps);
        const status = deps.draining?.() ? 'draining' : nats ? 'ok' : 'degraded';
        return reply.code(status === 'ok' ? 200 : 503).send({ status, nats, nodeId: deps.nodeId });
      },
    );

    app.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics (text exposition format); installation labels only with METRICS_INSTALLATION_LABELS=on',
          response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      async (_req, reply) => {
        const body = await metricsText(deps.metrics, opts.metricsInstallationLabels ?? false);
        return reply.type(deps.metrics.registry.contentType).send(body);
      },
    );
  };
}
