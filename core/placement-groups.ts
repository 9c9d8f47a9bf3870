import { fnv1a } from './fnv1a.js';

/**
 * Installations are placed on nodes by placement group, not one by one: each installation belongs
 * to one of `PLACEMENT_GROUPS` groups (FNV-1a of its id), and one balancer lease per group decides
 * which node runs the balancers of all its installations. A thousand per-installation leases cost
 * ~500 replicated KV writes a second, each delivered to every node's watch (issue 10's cluster
 * bench); with groups a cluster writes at most `PLACEMENT_GROUPS` leases a renewal period.
 *
 * A code constant, deliberately not a setting: two nodes with a different count would map one
 * installation to two groups, hold both leases and both lead it (the fence compares epochs of one
 * installation, which would then come from two keys). Changing it needs the whole cluster stopped
 * (README, "Running a cluster").
 */
export const PLACEMENT_GROUPS = 64;

/** The placement group of an installation: fixed for its id, so its epochs always come from one lease key. */
export function placementGroup(installationId: string, groups = PLACEMENT_GROUPS): number {
  return fnv1a(installationId) % groups;
}
