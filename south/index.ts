/**
 * The charger side's public interface: what the composition root and the partner bridge may use.
 * Everything else in south/ is internal (lint forbids deep imports from outside the folder).
 */
export { localAuthorizer } from './charger-handlers.js';
export type { Authorizer, IdTagInfo } from './charger-handlers.js';
export { ChargerRegistry } from './charger-registry.js';
export type { ChargerObserver, ChargerRef, NodeDeps, SessionSettings } from './node-deps.js';
export { publishOcppLog, shouldLog } from './ocpp-log.js';
