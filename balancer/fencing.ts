/** The epoch field of a balancer's charger command (none while the balancer has no lease epoch, e.g. in tests). */
export function fenced(epoch: number | undefined): { epoch?: number } {
  return epoch === undefined ? {} : { epoch };
}
