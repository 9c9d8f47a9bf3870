import type { FastifyRequest } from 'fastify';
import { PlatformError } from '../core/errors.js';
import type { Charger, Installation } from '../core/model.js';
import { mayAccess, principalOf } from './auth.js';
import type { ApiDeps } from './deps.js';

/**
 * Lookups that respect the caller's scope. Something outside an installer's scope is reported exactly
 * like something that does not exist (404, same message), so installers cannot probe for ids.
 */
export async function requireInstallation(deps: ApiDeps, req: FastifyRequest, id: string): Promise<Installation> {
  const found = mayAccess(principalOf(req), id) ? await deps.installations.get(id) : undefined;
  if (!found) throw new PlatformError('NOT_FOUND', `Installation ${id} not found`);
  return found;
}

/** Checks access to an installation id without loading it (for history of deleted records). */
export function requireInstallationAccess(req: FastifyRequest, id: string): void {
  if (!mayAccess(principalOf(req), id)) throw new PlatformError('NOT_FOUND', `Installation ${id} not found`);
}

/** A charger the caller may see; with `installationId`, it must also belong to that installation. */
export async function requireCharger(deps: ApiDeps, req: FastifyRequest, chargerId: string, installationId?: string): Promise<Charger> {
  const found = await deps.chargers.get(chargerId);
  if (!found || !mayAccess(principalOf(req), found.installationId) || (installationId !== undefined && found.installationId !== installationId)) {
    throw new PlatformError('NOT_FOUND', `Charger ${chargerId} not found`);
  }
  return found;
}
