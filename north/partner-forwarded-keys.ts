/**
 * Which of the real charger's configuration keys the partner may read (GetConfiguration) and change
 * (ChangeConfiguration) through the bridge. Everything else is the platform's: the charger's link to
 * the platform (AuthorizationKey, security keys), and what the balancer relies on (the meter values
 * the charger sends, its wiring). Keys match case-insensitively; the charger hears 1.6's spelling.
 * README "Partner OCPP authorization" lists the same.
 */

/** 1.6 standard keys the partner may read (the bridge answers its own keys itself). */
export const PARTNER_READABLE_KEYS = [
  'AllowOfflineTxForUnknownId',
  'AuthorizationCacheEnabled',
  'AuthorizeRemoteTxRequests',
  'BlinkRepeat',
  'ClockAlignedDataInterval',
  'ConnectionTimeOut',
  'GetConfigurationMaxKeys',
  'LightIntensity',
  'LocalAuthorizeOffline',
  'LocalPreAuthorize',
  'MaxEnergyOnInvalidId',
  'MeterValuesAlignedData',
  'MeterValuesSampledData',
  'MeterValueSampleInterval',
  'MinimumStatusDuration',
  'NumberOfConnectors',
  'ResetRetries',
  'StopTransactionOnEVSideDisconnect',
  'StopTransactionOnInvalidId',
  'StopTxnAlignedData',
  'StopTxnSampledData',
  'SupportedFeatureProfiles',
  'UnlockConnectorOnEVSideDisconnect',
  'LocalAuthListEnabled',
  'LocalAuthListMaxLength',
  'SendLocalListMaxLength',
  'ChargeProfileMaxStackLevel',
  'ChargingScheduleAllowedChargingRateUnit',
  'ChargingScheduleMaxPeriods',
  'MaxChargingProfilesInstalled',
] as const;

/**
 * Keys the partner may change: how the charger treats id tags and its user-facing behaviour. Not the
 * sampled meter values or their interval (the balancer measures with them), not the wiring.
 */
export const PARTNER_WRITABLE_KEYS = [
  'AllowOfflineTxForUnknownId',
  'AuthorizationCacheEnabled',
  'AuthorizeRemoteTxRequests',
  'BlinkRepeat',
  'ConnectionTimeOut',
  'LightIntensity',
  'LocalAuthorizeOffline',
  'LocalPreAuthorize',
  'MaxEnergyOnInvalidId',
  'MinimumStatusDuration',
  'ResetRetries',
  'StopTransactionOnEVSideDisconnect',
  'StopTransactionOnInvalidId',
  'StopTxnAlignedData',
  'StopTxnSampledData',
  'UnlockConnectorOnEVSideDisconnect',
] as const;

const byLower = (keys: readonly string[]): ReadonlyMap<string, string> => new Map(keys.map((k) => [k.toLowerCase(), k]));
const READABLE = byLower(PARTNER_READABLE_KEYS);
const WRITABLE = byLower(PARTNER_WRITABLE_KEYS);

/** 1.6's spelling of a key the partner may read from the charger, else undefined. */
export const readableKey = (key: string): string | undefined => READABLE.get(key.toLowerCase());
/** 1.6's spelling of a key the partner may change on the charger, else undefined. */
export const writableKey = (key: string): string | undefined => WRITABLE.get(key.toLowerCase());
