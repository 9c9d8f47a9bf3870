/**
 * The WebSocket close codes the Central System closes a charger's socket with, beyond RFC 6455's
 * own (4000-4999 are for applications). A charger or test tells the cases apart by code.
 */
export const CLOSE = {
  /** The same charger connected again (on this node or another): the older socket goes. */
  replaced: { code: 4000, reason: 'replaced by a new connection' },
  /** The charger or its installation was removed from configuration. */
  chargerRemoved: { code: 4001, reason: 'charger removed from configuration' },
  installationRemoved: { code: 4001, reason: 'installation removed' },
} as const;
