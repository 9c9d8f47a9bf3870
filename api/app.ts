import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance, type RawServerDefault, type RouteOptions } from 'fastify';
import { AuthThrottle } from '../ocpp/auth-throttle.js';
import { DEFAULT_AUTH_FAILURE_LIMIT, authenticate, type AuthFailureLimit } from './auth.js';
import type { ApiDeps } from './deps.js';
import { errorBody, errorHandler, errorSchema, sendError } from './errors.js';
import { availableCurrentRoutes } from './routes/available-current.js';
import { chargerRoutes } from './routes/chargers.js';
import { circuitRoutes } from './routes/circuits.js';
import { commandRoutes } from './routes/commands.js';
import { healthRoutes } from './routes/health.js';
import { installationRoutes } from './routes/installations.js';
import { liveRoutes } from './routes/live.js';
import { ocppLogRoutes } from './routes/ocpp-log.js';
import { statusRoutes } from './routes/status.js';
import { tokenRoutes } from './routes/tokens.js';
import { transactionRoutes } from './routes/transactions.js';
import { uiRoutes } from './routes/ui.js';
import { validatorCompiler } from './validation.js';

export type { ApiDeps } from './deps.js';

export interface BuildOptions {
  /** Called for every route as it is registered (the OpenAPI test compares them with the document). */
  onRoute?: (route: RouteOptions) => void;
  /** Failed authentications allowed per client address and window (default 10 per minute). */
  authFailureLimit?: AuthFailureLimit;
  /**
   * Behind a reverse proxy, trust its X-Forwarded-For (Fastify's `trustProxy`: true, a hop count or
   * addresses) so that failed authentications are counted per client, not per proxy. Default: off.
   */
  trustProxy?: boolean | number | string | string[];
  /** Slow and piled-up clients: see `ServerLimits` (defaults as in core/config.ts). */
  limits?: Partial<ServerLimits>;
  /** Installation ids as labels of the unauthenticated /metrics (default off: summed without them). */
  metricsInstallationLabels?: boolean;
}

export interface ServerLimits {
  /** The whole request (headers and body) must arrive within this; a trickled body gets 408. */
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  /** An idle keep-alive socket is closed after this. */
  keepAliveTimeoutMs: number;
  /** Sockets beyond this are closed as they arrive. */
  maxConnections: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 1_024 };

/**
 * How often Node checks the request and header timeouts: its default (30 s) would let a slow
 * client outlive a short timeout by that much.
 */
export const timeoutCheckIntervalMs = (l: Pick<ServerLimits, 'requestTimeoutMs' | 'headersTimeoutMs'>): number =>
  Math.max(50, Math.min(5_000, Math.floor(Math.min(l.requestTimeoutMs, l.headersTimeoutMs) / 4)));

export const API_PREFIX = '/api/v1';

/**
 * Secrets never reach the log: Fastify logs no bodies or headers by default, and the paths below are
 * censored should anything log them anyway.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'body',
  '*.body',
  'password',
  '*.password',
  '*.*.password',
  'chargerPassword',
  '*.chargerPassword',
  'initialPassword',
  '*.initialPassword',
  '*.*.initialPassword',
  'token',
  '*.token',
];

/**
 * Fastify 5 treats a bare hop count as "trust nothing" (it cannot check the immediate peer); a
 * count here means the operator states the node is reachable only through that many proxies, so
 * the count-th address from the right of X-Forwarded-For is the client (Express's semantics).
 */
function trustProxyOption(tp: BuildOptions['trustProxy']): boolean | string | string[] | ((addr: string, hop: number) => boolean) {
  if (typeof tp === 'number') return (_addr, hop) => hop < tp;
  return tp ?? false;
}

/** The configuration API, ready for `inject()` or `listen()`; it does not listen itself. */
export async function build(deps: ApiDeps, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const logger = deps.logger.child({ component: 'api' }, { redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
  const limits = { ...DEFAULT_SERVER_LIMITS, ...opts.limits };
  // No socket inactivity timeout: a command may wait a minute for its charger, and the dashboard's
  // event stream stays open; the request, header and keep-alive timeouts bound slow clients instead.
  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    trustProxy: trustProxyOption(opts.trustProxy),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: { requestTimeout: limits.requestTimeoutMs, headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: timeoutCheckIntervalMs(limits) },
  } as FastifyHttpOptions<RawServerDefault, FastifyBaseLogger>);
  app.server.maxConnections = limits.maxConnections;

  if (opts.onRoute) app.addHook('onRoute', opts.onRoute);
  app.setValidatorCompiler(validatorCompiler);
  app.setErrorHandler(errorHandler(logger));
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, errorBody('NOT_FOUND', `Route ${req.method} ${req.url.split('?')[0]} not found`)));
  app.addSchema(errorSchema);
  // PATCH bodies may be sent as JSON merge patch (RFC 7396) or plain JSON.
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Charging platform API',
        version: '1.0.0',
        description:
          'Installations, fuses, chargers and OCPP settings; live status; OCPP commands. Bearer-token auth: the admin token, ' +
          'or an installer token that sees only its installations (anything else answers 404, admin-only routes included). ' +
          'Errors: `{ error: { code, message, field?, ocppCode? } }`.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(healthRoutes(deps, { metricsInstallationLabels: opts.metricsInstallationLabels ?? false }));
  await app.register(uiRoutes());
  const limiter = new AuthThrottle(opts.authFailureLimit ?? DEFAULT_AUTH_FAILURE_LIMIT);
  await app.register(
    async (api) => {
      api.addHook('onRequest', authenticate({ adminToken: deps.adminToken, tokens: deps.tokens, limiter }));
      for (const routes of [installationRoutes, circuitRoutes, chargerRoutes, statusRoutes, liveRoutes, availableCurrentRoutes, commandRoutes, transactionRoutes, ocppLogRoutes, tokenRoutes]) {
        await api.register(routes(deps));
      }
    },
    { prefix: API_PREFIX },
  );
  return app;
}

