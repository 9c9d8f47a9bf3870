import type { ChargerCommand, CommandReply } from '../core/commands.js';

/**
 * Fencing of balancer limits on the node that holds a charger's socket: the newest leadership epoch
 * seen per installation (a new leader announces its epoch with its first status request to each
 * charger), and a SetChargingProfile from an older epoch is refused. So a deposed leader whose
 * commands were delayed (a partition, a NATS reconnect replaying buffered requests) cannot drive a
 * charger once its successor has spoken to it.
 */
export class LimitFence {
  private readonly newest = new Map<string, number>();

  /** Records `epoch` and says whether a command carrying it may act (false: an older leader). */
  admit(installationId: string, epoch: number | undefined): boolean {
    if (epoch === undefined) return true;
    const seen = this.newest.get(installationId) ?? 0;
    if (epoch < seen) return false;
    this.newest.set(installationId, epoch);
    return true;
  }
}

/** A FENCED reply for a SetChargingProfile from an older leader; undefined when the command may go on. */
export function fenceCommand(fence: LimitFence | undefined, installationId: string, cmd: ChargerCommand): CommandReply | undefined {
  if (!fence || fence.admit(installationId, cmd.epoch) || cmd.action !== 'SetChargingProfile') return undefined;
  return { ok: false, error: { code: 'FENCED', message: `SetChargingProfile from balancer epoch ${cmd.epoch} refused: a newer leader of ${installationId} has spoken` } };
}
