import type { CapStore } from '../core/cap-store.js';
import type { PartnerSettings } from '../core/config.js';
import type { PartnerQueue } from '../core/partner-queue.js';
import type { PartnerStore } from '../core/partner-store.js';
import type { NodeDeps } from '../south/index.js';

/** What the bridge needs of the node, and its own stores and settings; built in the composition root. */
export interface PartnerDeps extends Pick<NodeDeps, 'nodeId' | 'bus' | 'commands' | 'cache' | 'credentials' | 'chargerState' | 'metrics' | 'logger'> {
  store: PartnerStore;
  queue: PartnerQueue;
  caps: CapStore;
  settings: PartnerSettings;
  /** The one clock of the partner code (ms since the epoch). */
  now(): number;
}
