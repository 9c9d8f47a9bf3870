/** Domain records as stored in KV. Secrets are never part of these records (see credential-store). */

export type Phase = 'L1' | 'L2' | 'L3';
export const PHASES: readonly Phase[] = ['L1', 'L2', 'L3'];
export interface PhaseCurrents {
  L1: number;
  L2: number;
  L3: number;
}

export interface InstallationOcppSettings {
  /** "OCPP authorization": each charger also stands at the partner's Central System. */
  partnerEnabled: boolean;
  /** Partner (north) URL template with `{deviceId}`, ws:// or wss://. */
  url?: string;
  /** Default id tag sent to the partner when authentication is disabled ("" when unset). */
  defaultIdTag?: string;
}

export interface BalancerSettings {
  safetyMarginA: number;
  settleMs: number;
  deadbandA: number;
  minChangeIntervalMs: number;
  rotationIntervalMs: number;
  minRunMs: number;
  minPauseMs: number;
  /** Waiting sessions are admitted only under the lowest phase limits of this window. */
  admissionWindowMs: number;
  /** Sustained SetChargingProfile rate per charger (0 = no budget); `changeBurst` may be spent at once. */
  changesPerHour: number;
  changeBurst: number;
  /** A car that draws nothing this long while offered current is asleep (or full): offered 0 ... */
  idleAfterMs: number;
  /** ... except for a probe of `wakeProbeMs` at its minimum every `wakeProbeIntervalMs`. */
  wakeProbeIntervalMs: number;
  wakeProbeMs: number;
  /**
   * Per-phase current for the chargers while the energy manager's dynamic limit has expired (it went
   * silent). Unset: the lowest dynamic limit of the last hour, or the fuse when `fuseDedicatedToChargers`.
   */
  failsafeCurrent?: PhaseCurrents;
  /** Nothing but the chargers hangs on the fuse: a silent energy manager may fall back to the bare fuse. */
  fuseDedicatedToChargers: boolean;
  /** A grid meter silent longer than this puts its circuit on its failsafe current (per circuit: `meter.maxAgeS`). */
  meterMaxAgeS?: number;
  /** 1/3-phase switching: a switch stands at least this long (absent on old records: 300000). */
  phaseSwitchHoldMs?: number;
  /** ... and a session switches at most this often (absent on old records: 5). */
  maxPhaseSwitches?: number;
}

/**
 * A circuit below the installation's fuse (a sub-distribution board). The installation's own fuse is
 * the root circuit, `ROOT_CIRCUIT_ID`; it is not stored here.
 */
export interface Circuit {
  id: string;
  name: string;
  /** The circuit it is wired to; absent: the installation's fuse. */
  parentId?: string;
  /** Per-phase fuse (A); a phase the circuit is not wired to is absent. */
  limits: Partial<PhaseCurrents>;
  /** A grid meter on this circuit reports everything on it (see `PUT .../circuits/{id}/meter`). */
  meter?: CircuitMeter;
}

export interface CircuitMeter {
  /** Silent longer than this: the circuit runs on `failsafeCurrent`. Default: the installation's `meterMaxAgeS`. */
  maxAgeS?: number;
  /** Per-phase current for the chargers while the meter is silent; default: the lowest limit the meter gave in the last hour (0 A without one). */
  failsafeCurrent?: PhaseCurrents;
}

export interface Installation {
  id: string;
  name: string;
  fuse: PhaseCurrents;
  /** `required: false` is free charging; otherwise the allow list decides, or the partner when enabled. */
  authorization: { required: boolean; idTags: string[] };
  ocpp: InstallationOcppSettings;
  balancer: BalancerSettings;
  /** Circuits below the fuse (absent: a flat installation); managed through `/installations/{id}/circuits`. */
  circuits?: Circuit[];
  /** The meter on the installation's own fuse (the root circuit), when there is one. */
  meter?: CircuitMeter;
  createdAt: string;
  updatedAt: string;
}

export type ProfilePurpose = 'ChargePointMaxProfile' | 'TxDefaultProfile' | 'TxProfile';
export type PhaseRotation = 'L1L2L3' | 'L2L3L1' | 'L3L1L2' | 'L1L3L2' | 'L3L2L1' | 'L2L1L3';

export interface ChargerOcppSettings {
  /** Full partner URL, overriding the installation's template. */
  url?: string;
  webSocketPing: boolean;
  /** ISO time until which the partner session's OCPP log keeps MeterValues and Heartbeat. */
  verboseLoggingUntil?: string;
}

/**
 * What an offline (or rebooted) charger does, so what the balancer counts it at: its last accepted
 * limit (OCPP 1.6 profiles persist and are used offline), its maximum (it drops them), or its own
 * failsafe current in amperes.
 */
export type OfflineCurrent = 'lastLimit' | 'max' | number;

export interface Charger {
  id: string;
  installationId: string;
  /** Serial reported to the partner as `{deviceId}`; defaults to the charger id. */
  serial: string;
  phases: 1 | 3;
  phaseRotation: PhaseRotation;
  /** For a 1-phase charger: the grid phase it sits on. */
  gridPhase: Phase;
  minCurrent: number;
  maxCurrent: number;
  priority: number;
  /** Absent on records written before the setting existed: `lastLimit`. */
  offlineCurrent?: OfflineCurrent;
  /** The circuit it is wired to (`Installation.circuits`); absent: the installation's fuse. */
  circuitId?: string;
  /** A 3-phase charger that may be told to charge on one phase (`numberPhases: 1`); absent: false. */
  phaseSwitching?: boolean;
  /**
   * Send the limit again at every transaction start even when the charger holds it (firmware that
   * ignores its TxDefaultProfile until a profile arrives during the session). Absent: false.
   */
  resendProfileOnTransaction?: boolean;
  profilePurpose: ProfilePurpose;
  ocppValidation: 'strict' | 'lenient';
  ocpp: ChargerOcppSettings;
  createdAt: string;
  updatedAt: string;
}

export interface ConnectorState {
  connectorId: number;
  status: string;
  errorCode: string;
  info?: string;
  vendorErrorCode?: string;
  updatedAt: string;
}

export interface ActiveTransaction {
  transactionId: number;
  connectorId: number;
  idTag: string;
  meterStartWh: number;
  startedAt: string;
}

/** A connected charger's live state, as its actor holds it; answered to `$status` commands. */
export interface ChargerLiveStatus {
  chargerId: string;
  installationId: string;
  nodeId: string;
  connectedAt: string;
  lastSeen: string;
  registration: 'Unknown' | 'Accepted' | 'Pending' | 'Rejected';
  connectors: ConnectorState[];
  /** Measured current per charger terminal (A). */
  measured: { t1?: number; t2?: number; t3?: number; at?: string };
  energyWh?: number;
  activeTransactions: ActiveTransaction[];
}
