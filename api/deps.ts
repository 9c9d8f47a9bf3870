import type { Logger } from 'pino';
import type { AvailableCurrentStore } from '../core/available-current-store.js';
import type { ChargerCommands } from '../core/charger-commands.js';
import type { ChargerStore } from '../core/charger-store.js';
import type { ConfigCache } from '../core/config-cache.js';
import type { CredentialStore } from '../core/credential-store.js';
import type { InstallationStore } from '../core/installation-store.js';
import type { Metrics } from '../core/metrics.js';
import type { Bus } from '../core/nats.js';
import type { TokenStore } from '../core/token-store.js';
import type { TransactionStore } from '../core/transaction-store.js';

/** Everything the API needs, wired once in the composition root. */
export interface ApiDeps {
  bus: Bus;
  /** The node's command sender (its own chargers answered in process). */
  commands: ChargerCommands;
  nodeId: string;
  installations: InstallationStore;
  chargers: ChargerStore;
  credentials: CredentialStore;
  transactions: TransactionStore;
  tokens: TokenStore;
  availableCurrent: AvailableCurrentStore;
  cache: ConfigCache;
  metrics: Metrics;
  logger: Logger;
  adminToken: string;
  /** True once the node is shutting down: /health answers 503 so load balancers stop sending to it. */
  draining?: () => boolean;
}
