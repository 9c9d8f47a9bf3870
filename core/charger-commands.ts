import type { NatsConnection } from '@nats-io/transport-node';
import type { ChargerCommand, CommandReply } from './commands.js';
import { PlatformError } from './errors.js';
import { decodeJson, encodeJson } from './nats.js';
import { classifyNatsError } from './nats-errors.js';
import { subjects } from './subjects.js';

const DEFAULT_TIMEOUT_MS = 30_000;

/** Answers commands for a charger whose socket this process holds (its session, which also answers `cmd.charger.<id>`). */
export interface LocalCommandTarget {
  command(cmd: ChargerCommand): Promise<CommandReply>;
}

const jsonCopy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * How a node sends commands to chargers, built once in the composition root on the node's NATS
 * connection and handed to the charger sessions (which register here) and to every sender (balancer,
 * API, partner bridge). A command to a charger whose socket this node holds is handed to its session
 * directly: the same handler that answers `cmd.charger.<id>`, without the request, the reply and their
 * JSON on the bus (the balancer's SetChargingProfile to a charger on its own node was two NATS
 * messages and an Error object each). Others go over NATS.
 */
export class ChargerCommands {
  private readonly local = new Map<string, LocalCommandTarget>();

  constructor(private readonly nc: NatsConnection) {}

  /** Commands for `chargerId` go to `target` while it is registered. */
  serveLocally(chargerId: string, target: LocalCommandTarget): void {
    this.local.set(chargerId, target);
  }

  /** Undoes serveLocally, unless a newer session of the charger registered since. */
  stopServingLocally(chargerId: string, target: LocalCommandTarget): void {
    if (this.local.get(chargerId) === target) this.local.delete(chargerId);
  }

  /** Sends a command to the charger wherever it is connected. "Not connected" and "timeout" differ. */
  async send(chargerId: string, cmd: ChargerCommand): Promise<CommandReply> {
    const timeoutMs = cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const local = this.local.get(chargerId);
    if (local) {
      try {
        // Through JSON both ways, as over the bus: neither side keeps a reference into the other's objects.
        return jsonCopy(await local.command(jsonCopy({ ...cmd, timeoutMs })));
      } catch (err) {
        throw new PlatformError('INTERNAL', `Command to ${chargerId} failed`, { cause: err });
      }
    }
    try {
      // The NATS timeout leaves the node room to report the OCPP timeout itself.
      const msg = await this.nc.request(subjects.chargerCommand(chargerId), encodeJson({ ...cmd, timeoutMs }), { timeout: timeoutMs + 2_000 });
      return decodeJson<CommandReply>(msg.data);
    } catch (err) {
      const kind = classifyNatsError(err);
      if (kind === 'no-responders') return { ok: false, error: { code: 'NOT_CONNECTED', message: `Charger ${chargerId} is not connected` } };
      if (kind === 'timeout') return { ok: false, error: { code: 'TIMEOUT', message: `Charger ${chargerId} did not answer in time` } };
      throw new PlatformError('INTERNAL', `Command to ${chargerId} failed`, { cause: err });
    }
  }
}
