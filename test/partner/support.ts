import type { PlatformNode } from '../../main.js';
import { INITIAL_PASSWORD, strictCharger, waitFor } from '../support/platform.js';

/** Small durations for the bridge (read by startNode from PARTNER_* variables). */
export const PARTNER_TEST_ENV: Record<string, string> = {
  PARTNER_CALL_TIMEOUT_MS: '2000',
  PARTNER_CONNECT_TIMEOUT_MS: '2000',
  PARTNER_RECONNECT_MIN_MS: '50',
  PARTNER_RECONNECT_MAX_MS: '300',
  PARTNER_PING_INTERVAL_S: '1',
  PARTNER_BOOT_RETRY_S: '1',
  PARTNER_DEFAULT_HEARTBEAT_S: '60',
  PARTNER_TX_MESSAGE_RETRY_INTERVAL_S: '1',
  PARTNER_AUTHORIZE_TIMEOUT_MS: '1000',
  PARTNER_AUTH_CACHE_FRESH_MS: '0',
  PARTNER_LINGER_MS: '200',
  // The test partners listen on loopback, which is refused unless listed.
  PARTNER_URL_ALLOW: '127.0.0.1',
};

export function usePartnerTestEnv(): void {
  Object.assign(process.env, PARTNER_TEST_ENV);
}

export const PARTNER_PASSWORD = 'partner-initial-pw';

export const BOOT = { chargePointVendor: 'Zaptec', chargePointModel: 'Go', chargePointSerialNumber: 'SERIAL-X', firmwareVersion: '2.1.0' };

export type Charger = ReturnType<typeof strictCharger> & { password: string };

/**
 * A strict simulated charger (ocpp-rpc) connected to the node, booted and with connector 1 Available.
 * `password` is its current south password (after the platform rotated it, pass the rotated one).
 */
export async function connectCharger(node: PlatformNode, chargerId: string, password = INITIAL_PASSWORD, boot: Record<string, string> = BOOT): Promise<Charger> {
  const c = strictCharger(node, chargerId, password);
  c.client.handle('UnlockConnector', async () => ({ status: 'Unlocked' }));
  await c.client.connect();
  await c.client.call('BootNotification', boot);
  await c.client.call('StatusNotification', { connectorId: 0, status: 'Available', errorCode: 'NoError' });
  await c.client.call('StatusNotification', { connectorId: 1, status: 'Available', errorCode: 'NoError' });
  if (password === INITIAL_PASSWORD) {
    // The platform gives the charger its own south password first; reconnects need it.
    const key = await waitFor(() => c.state.authorizationKey, 5_000, `${chargerId} south password`);
    await waitFor(async () => {
      const south = await node.stores.credentials.chargerSouth(chargerId);
      return !!south?.current && !south.pending;
    });
    return { ...c, password: key };
  }
  return { ...c, password };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const startTx = (c: Charger, idTag: string, meterStart = 1000) =>
  c.client.call('StartTransaction', { connectorId: 1, idTag, meterStart, timestamp: new Date().toISOString() }) as Promise<{ transactionId: number; idTagInfo: { status: string } }>;

export const meter = (c: Charger, transactionId: number, wh: number) =>
  c.client.call('MeterValues', {
    connectorId: 1,
    transactionId,
    meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }],
  });

export const stopTx = (c: Charger, transactionId: number, meterStop: number, idTag?: string) =>
  c.client.call('StopTransaction', { transactionId, meterStop, timestamp: new Date().toISOString(), ...(idTag ? { idTag } : {}) });
