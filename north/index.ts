/**
 * The partner side's public interface: what the composition root may use. Everything else in north/
 * is internal (lint forbids deep imports from outside the folder).
 */
export { PartnerBridge } from './partner-bridge.js';
export type { PartnerDeps } from './partner-deps.js';
