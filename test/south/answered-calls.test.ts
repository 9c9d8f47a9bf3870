import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../core/metrics.js';
import { AnsweredCalls } from '../../south/answered-calls.js';

const okCount = async (metrics: ReturnType<typeof createMetrics>, action: string): Promise<number | undefined> => {
  const json = await metrics.ocppMessages.get();
  return json.values.find((v) => v.labels.action === action && v.labels.direction === 'in' && v.labels.result === 'ok')?.value;
};

describe('AnsweredCalls', () => {
  it('adds the calls of one turn up and hands them to the counter in the next, per action', async () => {
    const metrics = createMetrics();
    const answered = new AnsweredCalls(metrics);
    for (let i = 0; i < 5; i++) answered.add('Heartbeat');
    answered.add('MeterValues');
    expect(await okCount(metrics, 'Heartbeat')).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(await okCount(metrics, 'Heartbeat')).toBe(5);
    expect(await okCount(metrics, 'MeterValues')).toBe(1);
    answered.add('Heartbeat');
    await new Promise((r) => setImmediate(r));
    expect(await okCount(metrics, 'Heartbeat')).toBe(6);
    expect(await okCount(metrics, 'MeterValues')).toBe(1);
  });
});
