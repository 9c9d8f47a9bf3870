export {
  CALL_ERROR_CODES,
  CALL_ERROR_CLASSES,
  isCallErrorCode,
  createCallError,
  OcppCallError,
  NotImplementedError,
  NotSupportedError,
  InternalError,
  ProtocolError,
  SecurityError,
  FormationViolationError,
  PropertyConstraintViolationError,
  OccurenceConstraintViolationError,
  TypeConstraintViolationError,
  GenericError,
  OcppTimeoutError,
  OcppClosedError,
  OcppRemoteError,
} from './errors.js';
export type { CallErrorCode } from './errors.js';

export { ALL_ACTIONS, CHARGER_INITIATED_ACTIONS, CENTRAL_SYSTEM_ACTIONS, isKnownAction } from './actions.js';
export type { OcppAction, OcppActionMap, RequestOf, ResponseOf, ChargerInitiatedAction, CentralSystemAction } from './actions.js';

export { validateRequest, validateResponse, codeForKeyword } from './validator.js';

export { silentLogger } from './logger.js';
export type { OcppLogger } from './logger.js';

export { RpcConnection } from './rpc-connection.js';
export type { RpcConnectionOptions, RpcConnectionEvents, RpcLogEntry, CallOptions, CallContext, CallHandler } from './rpc-connection.js';

export {
  createOcppServer,
  parseChargerId,
  parseBasicAuth,
  OCPP_SUBPROTOCOL,
  DEFAULT_MAX_FRAME_BYTES,
  REPLACED_CLOSE_CODE,
  REPLACED_CLOSE_REASON,
} from './server.js';
export type { OcppServer, OcppServerOptions, OcppConnectionInfo, AuthRequest, AuthResult } from './server.js';

export { partnerUrl, openPartnerConnection, PartnerConnection, PartnerConnectError, reconnectDelayMs, DEVICE_ID_PLACEHOLDER } from './partner-client.js';
export type { PartnerConnectOptions } from './partner-client.js';
