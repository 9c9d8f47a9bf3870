import type { ResponseOf } from '../ocpp/actions.js';

type KeyValue = NonNullable<ResponseOf<'GetConfiguration'>['configurationKey']>[number];

interface KeyDef {
  readonly: boolean;
  /** Validates a new value; undefined = any string. */
  valid?: (v: string) => boolean;
  rebootRequired?: boolean;
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => (v: string) => /^-?\d+$/.test(v) && Number(v) >= min && Number(v) <= max;
const bool = (v: string) => v === 'true' || v === 'false';

/** The 1.6 Core and Smart Charging keys a simulated charger reports (1.6 §9). */
const KEYS: Record<string, KeyDef> = {
  AuthorizeRemoteTxRequests: { readonly: false, valid: bool },
  ChargeProfileMaxStackLevel: { readonly: true },
  ChargingScheduleAllowedChargingRateUnit: { readonly: true },
  ChargingScheduleMaxPeriods: { readonly: true },
  ClockAlignedDataInterval: { readonly: false, valid: int(0) },
  ConnectionTimeOut: { readonly: false, valid: int(0) },
  GetConfigurationMaxKeys: { readonly: true },
  HeartbeatInterval: { readonly: false, valid: int(0) },
  LocalAuthorizeOffline: { readonly: false, valid: bool },
  LocalPreAuthorize: { readonly: false, valid: bool },
  MaxChargingProfilesInstalled: { readonly: true },
  MeterValuesAlignedData: { readonly: false },
  MeterValuesSampledData: { readonly: false },
  MeterValueSampleInterval: { readonly: false, valid: int(0) },
  NumberOfConnectors: { readonly: true },
  ResetRetries: { readonly: false, valid: int(0) },
  StopTransactionOnEVSideDisconnect: { readonly: false, valid: bool },
  StopTransactionOnInvalidId: { readonly: false, valid: bool },
  StopTxnAlignedData: { readonly: false },
  StopTxnSampledData: { readonly: false },
  SupportedFeatureProfiles: { readonly: true },
  TransactionMessageAttempts: { readonly: false, valid: int(0) },
  TransactionMessageRetryInterval: { readonly: false, valid: int(0) },
  UnlockConnectorOnEVSideDisconnect: { readonly: false, valid: bool },
  WebSocketPingInterval: { readonly: false, valid: int(0) },
  /** Security whitepaper: write-only, never reported with its value. */
  AuthorizationKey: { readonly: false, valid: (v) => /^([0-9a-fA-F]{2}){8,40}$/.test(v), rebootRequired: false },
};

export function defaultConfiguration(meterIntervalS: number): Map<string, string> {
  return new Map([
    ['AuthorizeRemoteTxRequests', 'false'],
    ['ChargeProfileMaxStackLevel', '8'],
    ['ChargingScheduleAllowedChargingRateUnit', 'Current,Power'],
    ['ChargingScheduleMaxPeriods', '24'],
    ['ClockAlignedDataInterval', '0'],
    ['ConnectionTimeOut', '60'],
    ['GetConfigurationMaxKeys', '50'],
    ['HeartbeatInterval', '300'],
    ['LocalAuthorizeOffline', 'true'],
    ['LocalPreAuthorize', 'false'],
    ['MaxChargingProfilesInstalled', '16'],
    ['MeterValuesAlignedData', 'Energy.Active.Import.Register'],
    ['MeterValuesSampledData', `Current.Import,Current.Offered,Power.Active.Import,Energy.Active.Import.Register`],
    ['MeterValueSampleInterval', String(Math.round(meterIntervalS))],
    ['NumberOfConnectors', '1'],
    ['ResetRetries', '1'],
    ['StopTransactionOnEVSideDisconnect', 'true'],
    ['StopTransactionOnInvalidId', 'true'],
    ['StopTxnAlignedData', ''],
    ['StopTxnSampledData', ''],
    ['SupportedFeatureProfiles', 'Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger'],
    ['TransactionMessageAttempts', '3'],
    ['TransactionMessageRetryInterval', '60'],
    ['UnlockConnectorOnEVSideDisconnect', 'true'],
    ['WebSocketPingInterval', '0'],
  ]);
}

/** GetConfiguration (1.6 §5.8): requested keys, or all; unknown ones listed as such. */
export function getConfiguration(config: ReadonlyMap<string, string>, keys: readonly string[] | undefined): ResponseOf<'GetConfiguration'> {
  const wanted = keys && keys.length > 0 ? keys : [...config.keys()];
  const configurationKey: KeyValue[] = [];
  const unknownKey: string[] = [];
  for (const key of wanted) {
    const value = config.get(key);
    const def = KEYS[key];
    if (key === 'AuthorizationKey') configurationKey.push({ key, readonly: false });
    else if (value === undefined) unknownKey.push(key);
    else configurationKey.push({ key, readonly: def?.readonly ?? true, value });
  }
  return unknownKey.length > 0 ? { configurationKey, unknownKey } : { configurationKey };
}

/** ChangeConfiguration (1.6 §5.3): Accepted, Rejected (read-only or invalid), NotSupported (unknown). */
export function changeConfiguration(config: Map<string, string>, key: string, value: string): ResponseOf<'ChangeConfiguration'>['status'] {
  const def = KEYS[key];
  if (!def) return 'NotSupported';
  if (def.readonly || (def.valid && !def.valid(value))) return 'Rejected';
  config.set(key, value);
  return def.rebootRequired ? 'RebootRequired' : 'Accepted';
}

/** AuthorizationKey arrives hex-encoded (security whitepaper); a plain value is taken as is. */
export function decodeAuthorizationKey(value: string): string {
  return /^([0-9a-fA-F]{2})+$/.test(value) ? Buffer.from(value, 'hex').toString('utf8') : value;
}
