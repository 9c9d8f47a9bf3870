import type { OCPP16 } from 'typed-ocpp';

/**
 * OCPP 1.6 actions and their request/response types, taken from typed-ocpp (which generates them
 * from the official 1.6 JSON schemas, errata version). Type-only import: loading typed-ocpp's root
 * module compiles every 1.6/2.0/2.1 schema eagerly (about 1.2 s), so the runtime never does it.
 */
export interface OcppActionMap {
  // Core
  Authorize: { request: OCPP16.AuthorizeRequest; response: OCPP16.AuthorizeResponse };
  BootNotification: { request: OCPP16.BootNotificationRequest; response: OCPP16.BootNotificationResponse };
  ChangeAvailability: { request: OCPP16.ChangeAvailabilityRequest; response: OCPP16.ChangeAvailabilityResponse };
  ChangeConfiguration: { request: OCPP16.ChangeConfigurationRequest; response: OCPP16.ChangeConfigurationResponse };
  ClearCache: { request: OCPP16.ClearCacheRequest; response: OCPP16.ClearCacheResponse };
  DataTransfer: { request: OCPP16.DataTransferRequest; response: OCPP16.DataTransferResponse };
  GetConfiguration: { request: OCPP16.GetConfigurationRequest; response: OCPP16.GetConfigurationResponse };
  Heartbeat: { request: OCPP16.HeartbeatRequest; response: OCPP16.HeartbeatResponse };
  MeterValues: { request: OCPP16.MeterValuesRequest; response: OCPP16.MeterValuesResponse };
  RemoteStartTransaction: { request: OCPP16.RemoteStartTransactionRequest; response: OCPP16.RemoteStartTransactionResponse };
  RemoteStopTransaction: { request: OCPP16.RemoteStopTransactionRequest; response: OCPP16.RemoteStopTransactionResponse };
  Reset: { request: OCPP16.ResetRequest; response: OCPP16.ResetResponse };
  StartTransaction: { request: OCPP16.StartTransactionRequest; response: OCPP16.StartTransactionResponse };
  StatusNotification: { request: OCPP16.StatusNotificationRequest; response: OCPP16.StatusNotificationResponse };
  StopTransaction: { request: OCPP16.StopTransactionRequest; response: OCPP16.StopTransactionResponse };
  UnlockConnector: { request: OCPP16.UnlockConnectorRequest; response: OCPP16.UnlockConnectorResponse };
  // Firmware Management
  GetDiagnostics: { request: OCPP16.GetDiagnosticsRequest; response: OCPP16.GetDiagnosticsResponse };
  DiagnosticsStatusNotification: {
    request: OCPP16.DiagnosticsStatusNotificationRequest;
    response: OCPP16.DiagnosticsStatusNotificationResponse;
  };
  FirmwareStatusNotification: {
    request: OCPP16.FirmwareStatusNotificationRequest;
    response: OCPP16.FirmwareStatusNotificationResponse;
  };
  UpdateFirmware: { request: OCPP16.UpdateFirmwareRequest; response: OCPP16.UpdateFirmwareResponse };
  // Local Auth List Management
  GetLocalListVersion: { request: OCPP16.GetLocalListVersionRequest; response: OCPP16.GetLocalListVersionResponse };
  SendLocalList: { request: OCPP16.SendLocalListRequest; response: OCPP16.SendLocalListResponse };
  // Reservation
  CancelReservation: { request: OCPP16.CancelReservationRequest; response: OCPP16.CancelReservationResponse };
  ReserveNow: { request: OCPP16.ReserveNowRequest; response: OCPP16.ReserveNowResponse };
  // Smart Charging
  ClearChargingProfile: { request: OCPP16.ClearChargingProfileRequest; response: OCPP16.ClearChargingProfileResponse };
  GetCompositeSchedule: { request: OCPP16.GetCompositeScheduleRequest; response: OCPP16.GetCompositeScheduleResponse };
  SetChargingProfile: { request: OCPP16.SetChargingProfileRequest; response: OCPP16.SetChargingProfileResponse };
  // Remote Trigger
  TriggerMessage: { request: OCPP16.TriggerMessageRequest; response: OCPP16.TriggerMessageResponse };
  // Security whitepaper (1.6 edition 3)
  CertificateSigned: { request: OCPP16.CertificateSignedRequest; response: OCPP16.CertificateSignedResponse };
  DeleteCertificate: { request: OCPP16.DeleteCertificateRequest; response: OCPP16.DeleteCertificateResponse };
  ExtendedTriggerMessage: { request: OCPP16.ExtendedTriggerMessageRequest; response: OCPP16.ExtendedTriggerMessageResponse };
  GetInstalledCertificateIds: {
    request: OCPP16.GetInstalledCertificateIdsRequest;
    response: OCPP16.GetInstalledCertificateIdsResponse;
  };
  GetLog: { request: OCPP16.GetLogRequest; response: OCPP16.GetLogResponse };
  InstallCertificate: { request: OCPP16.InstallCertificateRequest; response: OCPP16.InstallCertificateResponse };
  LogStatusNotification: { request: OCPP16.LogStatusNotificationRequest; response: OCPP16.LogStatusNotificationResponse };
  SecurityEventNotification: {
    request: OCPP16.SecurityEventNotificationRequest;
    response: OCPP16.SecurityEventNotificationResponse;
  };
  SignCertificate: { request: OCPP16.SignCertificateRequest; response: OCPP16.SignCertificateResponse };
  SignedFirmwareStatusNotification: {
    request: OCPP16.SignedFirmwareStatusNotificationRequest;
    response: OCPP16.SignedFirmwareStatusNotificationResponse;
  };
  SignedUpdateFirmware: { request: OCPP16.SignedUpdateFirmwareRequest; response: OCPP16.SignedUpdateFirmwareResponse };
}

export type OcppAction = keyof OcppActionMap;
export type RequestOf<A extends OcppAction> = OcppActionMap[A]['request'];
export type ResponseOf<A extends OcppAction> = OcppActionMap[A]['response'];

/** Actions a charge point sends to its Central System (DataTransfer goes both ways). */
export const CHARGER_INITIATED_ACTIONS = [
  // Core
  'Authorize',
  'BootNotification',
  'DataTransfer',
  'Heartbeat',
  'MeterValues',
  'StartTransaction',
  'StatusNotification',
  'StopTransaction',
  // Firmware Management
  'DiagnosticsStatusNotification',
  'FirmwareStatusNotification',
  // Security whitepaper
  'LogStatusNotification',
  'SecurityEventNotification',
  'SignCertificate',
  'SignedFirmwareStatusNotification',
] as const satisfies readonly OcppAction[];

/** Central System actions of the OCPP 1.6 security whitepaper. */
export const SECURITY_EXTENSION_ACTIONS = [
  'CertificateSigned',
  'DeleteCertificate',
  'ExtendedTriggerMessage',
  'GetInstalledCertificateIds',
  'GetLog',
  'InstallCertificate',
  'SignedUpdateFirmware',
] as const satisfies readonly OcppAction[];

/** Actions a Central System sends to a charge point (DataTransfer goes both ways). */
export const CENTRAL_SYSTEM_ACTIONS = [
  // Core
  'ChangeAvailability',
  'ChangeConfiguration',
  'ClearCache',
  'DataTransfer',
  'GetConfiguration',
  'RemoteStartTransaction',
  'RemoteStopTransaction',
  'Reset',
  'UnlockConnector',
  // Firmware Management
  'GetDiagnostics',
  'UpdateFirmware',
  // Local Auth List Management
  'GetLocalListVersion',
  'SendLocalList',
  // Reservation
  'CancelReservation',
  'ReserveNow',
  // Smart Charging
  'ClearChargingProfile',
  'GetCompositeSchedule',
  'SetChargingProfile',
  // Remote Trigger
  'TriggerMessage',
  ...SECURITY_EXTENSION_ACTIONS,
] as const satisfies readonly OcppAction[];

export type ChargerInitiatedAction = (typeof CHARGER_INITIATED_ACTIONS)[number];
export type CentralSystemAction = (typeof CENTRAL_SYSTEM_ACTIONS)[number];

/** Every 1.6 action, once. */
export const ALL_ACTIONS: readonly OcppAction[] = [...new Set<OcppAction>([...CHARGER_INITIATED_ACTIONS, ...CENTRAL_SYSTEM_ACTIONS])];

const ACTION_SET: ReadonlySet<string> = new Set(ALL_ACTIONS);

export function isKnownAction(action: unknown): action is OcppAction {
  return typeof action === 'string' && ACTION_SET.has(action);
}

// Compile-time check: the two lists together name every action of the map.
type _Uncovered = Exclude<OcppAction, ChargerInitiatedAction | CentralSystemAction>;
const _everyActionListed: [_Uncovered] extends [never] ? true : never = true;
