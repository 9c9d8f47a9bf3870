import { PILOT_MIN_A, type Car } from './ev.js';

export type ConnectorStatus = 'Available' | 'Preparing' | 'Charging' | 'SuspendedEV' | 'SuspendedEVSE' | 'Finishing' | 'Unavailable';

/** The connector's status from the car on it, the transaction and the current offered; `current` keeps Finishing until the car leaves. */
export function connectorStatusOf(current: ConnectorStatus, car: Car | undefined, inTx: boolean, offeredA: number, t: number): ConnectorStatus {
  if (!car) return 'Available';
  if (!inTx) return current === 'Finishing' ? 'Finishing' : 'Preparing';
  if (offeredA < PILOT_MIN_A) return 'SuspendedEVSE';
  if (car.demandA(t) === 0) return 'SuspendedEV';
  return 'Charging';
}
