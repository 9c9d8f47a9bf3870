import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

export const UI_PREFIX = '/ui/';

/**
 * The dashboard's static files live in api/ui/ (plain HTML, CSS and ES modules, no build step). Run
 * from source this file is api/routes/, built it is dist/api/routes/, and tsc does not copy them.
 */
function uiDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'ui'), join(here, '..', '..', '..', 'api', 'ui')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`dashboard files not found in ${candidates.join(' or ')}`);
  return found;
}

/** uPlot's browser build, served from node_modules: nothing is fetched from the internet. */
function uplotDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
}

/**
 * The page loads without a token (it holds none until the user logs in); every request it makes goes
 * to the API with the token. The CSP keeps everything same-origin and forbids inline scripts.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export function uiRoutes(): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onSend', async (_req, reply) => {
      reply.headers(SECURITY_HEADERS);
    });
    // Relative, so that it also works behind a proxy that adds a path prefix.
    app.get('/ui', { schema: { hide: true } }, (_req, reply) => reply.redirect('ui/'));
    // Both registrations are hidden from the OpenAPI document (schemaHide defaults to true).
    await app.register(fastifyStatic, { root: uiDir(), prefix: UI_PREFIX, decorateReply: false });
    await app.register(fastifyStatic, { root: uplotDir(), prefix: `${UI_PREFIX}vendor/uplot/`, decorateReply: false });
  };
}
