import type { AddressInfo } from 'node:net';
import { RPCServer, createRPCError } from 'ocpp-rpc';
import type WebSocket from 'ws';
import { freePort } from '../../core/embedded-nats.js';

/**
 * The partner's Central System in tests: ocpp-rpc's RPCServer in strict mode, a peer this project did
 * not write that checks every message the bridge sends (and every answer it gives) against the
 * official 1.6 schemas. It records handshakes, calls and WebSocket pings, and can go down and come
 * back on the same port.
 */

type ServerClient = {
  identity: string;
  handshake: { identity: string; endpoint: string; password?: Buffer };
  handle(method: string | ((c: { method?: string; params?: Record<string, unknown> }) => Promise<Record<string, unknown>>), h?: unknown): void;
  call(method: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(opts?: Record<string, unknown>): Promise<unknown>;
  on(event: string, fn: (...args: unknown[]) => void): void;
  _ws: WebSocket;
};

export interface Handshake {
  identity: string;
  endpoint: string;
  password: string | undefined;
  at: number;
}

export interface PartnerCall {
  identity: string;
  action: string;
  params: Record<string, unknown>;
  at: number;
  /** The answer went out on a connection still open (false: the call failed, or its socket was gone). */
  answered: boolean;
  /** Which connection of the identity it came on (1 = the first handshake of that identity). */
  connection: number;
  /** How many connections of the identity were open when it arrived. */
  openAtReceipt: number;
}

/** A partner answer held back until the test releases it: a call "in flight" at the partner. */
export interface Hold {
  /** Resolves when the held call arrived. */
  readonly received: Promise<PartnerCall>;
  release(): void;
}

export interface PartnerBehaviour {
  /** Expected password per identity; a different one gets 401. Unset identity: any password. */
  passwords: Map<string, string>;
  bootStatus: 'Accepted' | 'Pending' | 'Rejected';
  heartbeatS: number;
  /** Authorize answers per id tag (default Accepted). */
  idTags: Map<string, 'Accepted' | 'Blocked' | 'Expired' | 'Invalid'>;
  /** Calls of these actions get a CALLERROR this many more times. */
  failNext: Map<string, number>;
}

export class TestPartner {
  readonly handshakes: Handshake[] = [];
  readonly calls: PartnerCall[] = [];
  readonly failures: unknown[] = [];
  readonly refused: { identity: string; password: string | undefined }[] = [];
  readonly clients = new Map<string, ServerClient>();
  readonly pings = new Map<string, number[]>();
  /** Every connection that completed its handshake, per identity, with when it closed. */
  readonly connections: { identity: string; n: number; openedAt: number; closedAt?: number }[] = [];
  private readonly holds = new Map<string, { arrived(c: PartnerCall): void; released: Promise<void> }>();
  readonly behaviour: PartnerBehaviour = { passwords: new Map(), bootStatus: 'Accepted', heartbeatS: 60, idTags: new Map(), failNext: new Map() };
  private server: InstanceType<typeof RPCServer> | undefined;
  private nextTxId = 7000;

  private constructor(readonly port: number) {}

  static async start(): Promise<TestPartner> {
    const partner = new TestPartner(await freePort());
    await partner.up();
    return partner;
  }

  /** `ws://127.0.0.1:<port>` + path. */
  url(path: string): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  get isUp(): boolean {
    return this.server !== undefined;
  }

  async up(): Promise<void> {
    const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true, pingIntervalMs: 0, callTimeoutMs: 5_000 });
    server.auth((accept, reject, handshake) => {
      const password = handshake.password?.toString('utf8');
      const expected = this.behaviour.passwords.get(handshake.identity);
      if (expected !== undefined && expected !== password) {
        this.refused.push({ identity: handshake.identity, password });
        reject(401, 'wrong password');
        return;
      }
      this.handshakes.push({ identity: handshake.identity, endpoint: handshake.endpoint, password, at: Date.now() });
      accept({});
    });
    server.on('client', (c: unknown) => this.onClient(c as ServerClient));
    const http = await server.listen(this.port, '127.0.0.1');
    if ((http.address() as AddressInfo).port !== this.port) throw new Error('partner port changed');
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.clients.clear();
    await server?.close({ force: true });
  }

  client(identity: string): ServerClient {
    const c = this.clients.get(identity);
    if (!c) throw new Error(`${identity} is not connected to the partner`);
    return c;
  }

  /** A call from the partner to the bridge's charge point; CALLERRORs resolve as `{ error: code }`. */
  async command(identity: string, action: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    try {
      return await this.client(identity).call(action, params);
    } catch (err) {
      const code = (err as { rpcErrorCode?: string }).rpcErrorCode;
      if (code) return { error: code };
      throw err;
    }
  }

  /** True once the current connection of `identity` authenticated with `password`. */
  connectedWith(identity: string, password: string): boolean {
    return this.clients.get(identity)?.handshake.password?.toString('utf8') === password;
  }

  /** Connections of `identity` open now. */
  openConnections(identity: string): number {
    return this.connections.filter((c) => c.identity === identity && c.closedAt === undefined).length;
  }

  /** The next call of `action` (any identity) is answered only once `release()` is called. */
  holdNext(action: string): Hold {
    let arrived!: (c: PartnerCall) => void;
    let release!: () => void;
    const received = new Promise<PartnerCall>((r) => (arrived = r));
    const released = new Promise<void>((r) => (release = r));
    this.holds.set(action, { arrived, released });
    return { received, release };
  }

  callsOf(identity: string, action?: string): PartnerCall[] {
    return this.calls.filter((c) => c.identity === identity && (action === undefined || c.action === action));
  }

  private onClient(client: ServerClient): void {
    const identity = client.identity;
    this.clients.set(identity, client);
    const connection = { identity, n: this.connections.filter((c) => c.identity === identity).length + 1, openedAt: Date.now() } as (typeof this.connections)[number];
    this.connections.push(connection);
    client.on('close', () => {
      connection.closedAt = Date.now();
      if (this.clients.get(identity) === client) this.clients.delete(identity);
    });
    client.on('strictValidationFailure', (f) => this.failures.push({ identity, ...(f as object) }));
    client._ws.on('ping', () => {
      const list = this.pings.get(identity) ?? [];
      list.push(Date.now());
      this.pings.set(identity, list);
    });
    client.handle(async ({ method = '', params = {} }) => {
      const call: PartnerCall = { identity, action: method, params, at: Date.now(), answered: false, connection: connection.n, openAtReceipt: this.openConnections(identity) };
      this.calls.push(call);
      const fails = this.behaviour.failNext.get(method) ?? 0;
      if (fails > 0) {
        this.behaviour.failNext.set(method, fails - 1);
        throw createRPCError('InternalError', 'partner hiccup');
      }
      const hold = this.holds.get(method);
      if (hold) {
        this.holds.delete(method);
        hold.arrived(call);
        await hold.released;
      }
      // The answer is computed (a transaction id handed out) whether or not the socket is still there.
      const answer = this.answer(method, params);
      call.answered = connection.closedAt === undefined && client._ws.readyState === 1;
      return answer;
    });
  }

  private answer(method: string, params: Record<string, unknown>): Record<string, unknown> {
    const now = new Date().toISOString();
    switch (method) {
      case 'BootNotification':
        return { status: this.behaviour.bootStatus, currentTime: now, interval: this.behaviour.heartbeatS };
      case 'Heartbeat':
        return { currentTime: now };
      case 'Authorize':
        return { idTagInfo: { status: this.behaviour.idTags.get(String(params.idTag)) ?? 'Accepted' } };
      case 'StartTransaction':
        return { transactionId: this.nextTxId++, idTagInfo: { status: 'Accepted' } };
      case 'StopTransaction':
        return params.idTag !== undefined ? { idTagInfo: { status: 'Accepted' } } : {};
      case 'DataTransfer':
        return { status: 'UnknownVendorId' };
      default:
        return {};
    }
  }
}
