import type { Phase } from '../core/model.js';
import type { RequestOf } from '../ocpp/actions.js';

export type MeterContext = 'Sample.Periodic' | 'Trigger';

/** What the charger measures at its outlet, for one MeterValues. */
export interface OutletReading {
  /** Grid phase of each terminal; one current per terminal is reported. */
  terminals: readonly Phase[];
  /** Current per terminal (A). */
  draw: readonly [number, number, number];
  offeredA: number;
  energyWh: number;
  voltage: number;
  /** The running transaction, if any. */
  transactionId: number | undefined;
}

/** The MeterValues the simulated charger sends: a current per terminal, the offer, the power and the register. */
export function meterValuesRequest(r: OutletReading, context: MeterContext): RequestOf<'MeterValues'> {
  const sample = (measurand: string, value: number, unit: string, phase?: string) => ({
    value: (Math.round(value * 10) / 10).toString(),
    context,
    measurand,
    ...(phase ? { phase } : {}),
    location: 'Outlet',
    unit,
  });
  const names = ['L1', 'L2', 'L3'];
  const currents = r.terminals.map((_p, i) => sample('Current.Import', r.draw[i] ?? 0, 'A', names[i]));
  const power = (r.draw[0] + r.draw[1] + r.draw[2]) * r.voltage;
  return {
    connectorId: 1,
    ...(r.transactionId !== undefined ? { transactionId: r.transactionId } : {}),
    meterValue: [
      {
        timestamp: new Date().toISOString(),
        sampledValue: [
          ...currents,
          sample('Current.Offered', r.offeredA, 'A'),
          sample('Power.Active.Import', power, 'W'),
          { ...sample('Energy.Active.Import.Register', 0, 'Wh'), value: String(Math.round(r.energyWh)) },
        ] as RequestOf<'MeterValues'>['meterValue'][number]['sampledValue'],
      },
    ],
  };
}
