import type { OcppAction, RequestOf, ResponseOf } from '../ocpp/actions.js';
import { changeConfiguration, getConfiguration } from './charger-config.js';
import type { SimCharger } from './charger.js';
import { OcppCallError } from './ocpp-socket.js';

type Handler = (payload: Record<string, unknown>) => Promise<object> | object;
/** The platform validated the payload against the 1.6 schema before sending it. */
const as = <A extends OcppAction>(p: Record<string, unknown>): RequestOf<A> => p as unknown as RequestOf<A>;

/**
 * Answers to every Central-System-initiated call of OCPP 1.6 (Core, Smart Charging, Remote Trigger,
 * Firmware, Local Auth List, Reservation), as a simple single-connector charge point answers them.
 * Unknown actions get a NotImplemented CALLERROR (`callAnswerer`).
 */
export function callHandlers(c: SimCharger): Record<string, Handler> {
  return {
    SetChargingProfile: (p) => c.setChargingProfile(as<'SetChargingProfile'>(p)),
    ClearChargingProfile: (p) => c.withTime((t) => c.clearProfiles(t, as<'ClearChargingProfile'>(p))),
    GetCompositeSchedule: (p) => c.compositeSchedule(as<'GetCompositeSchedule'>(p)),
    GetConfiguration: (p) => getConfiguration(c.config, as<'GetConfiguration'>(p).key),
    ChangeConfiguration: (p): ResponseOf<'ChangeConfiguration'> => {
      const { key, value } = as<'ChangeConfiguration'>(p);
      const status = changeConfiguration(c.config, key, value);
      if (status === 'Accepted') c.configurationChanged(key, value);
      return { status };
    },
    TriggerMessage: (p): ResponseOf<'TriggerMessage'> => {
      const follow = c.triggered(as<'TriggerMessage'>(p).requestedMessage);
      if (!follow) return { status: 'NotImplemented' };
      // The triggered message goes after the answer (1.6 §5.17).
      setImmediate(() => void follow());
      return { status: 'Accepted' };
    },
    Reset: (): ResponseOf<'Reset'> => {
      setImmediate(() => c.withTime((t) => c.reboot(t, 5_000)));
      return { status: 'Accepted' };
    },
    RemoteStartTransaction: (p): ResponseOf<'RemoteStartTransaction'> =>
      c.withTime((t) => ({ status: c.remoteStart(t, as<'RemoteStartTransaction'>(p).connectorId) ? 'Accepted' : 'Rejected' })),
    RemoteStopTransaction: (p): ResponseOf<'RemoteStopTransaction'> =>
      c.withTime((t) => ({ status: c.remoteStop(t, as<'RemoteStopTransaction'>(p).transactionId) ? 'Accepted' : 'Rejected' })),
    ChangeAvailability: (): ResponseOf<'ChangeAvailability'> => ({ status: c.transactionId !== undefined ? 'Scheduled' : 'Accepted' }),
    UnlockConnector: (): ResponseOf<'UnlockConnector'> => ({ status: c.transactionId !== undefined ? 'UnlockFailed' : 'Unlocked' }),
    ClearCache: (): ResponseOf<'ClearCache'> => ({ status: 'Accepted' }),
    DataTransfer: (): ResponseOf<'DataTransfer'> => ({ status: 'UnknownVendorId' }),
    GetLocalListVersion: (): ResponseOf<'GetLocalListVersion'> => ({ listVersion: 0 }),
    SendLocalList: (): ResponseOf<'SendLocalList'> => ({ status: 'Accepted' }),
    ReserveNow: (): ResponseOf<'ReserveNow'> => ({ status: 'Rejected' }),
    CancelReservation: (): ResponseOf<'CancelReservation'> => ({ status: 'Rejected' }),
    GetDiagnostics: (): ResponseOf<'GetDiagnostics'> => ({}),
    UpdateFirmware: (): ResponseOf<'UpdateFirmware'> => ({}),
  };
}

/** How the charger answers a call from the Central System; an action it does not know is a NotImplemented CALLERROR. */
export function callAnswerer(c: SimCharger): (action: string, payload: Record<string, unknown>) => Promise<object> | object {
  const handlers = callHandlers(c);
  return (action, payload) => {
    const handler = handlers[action];
    if (!handler) throw new OcppCallError('NotImplemented', `${action} is not implemented by this charger`);
    return handler(payload);
  };
}
