import { AggregatorRegistry, Counter, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** The node's Prometheus metrics, created once in the composition root and passed to whoever counts. */
export function createMetrics() {
  const registry = new Registry();
  return {
    registry,
    connectedChargers: new Gauge({ name: 'cp_connected_chargers', help: 'Chargers connected to this node', registers: [registry] }),
    ocppMessages: new Counter({
      name: 'cp_ocpp_messages_total',
      help: 'OCPP calls by direction, action and result (ok or the CallError code)',
      labelNames: ['direction', 'action', 'result'] as const,
      registers: [registry],
    }),
    partnerGivenUp: new Counter({
      name: 'cp_partner_messages_given_up_total',
      help: 'Partner transaction messages given up (kept in NORTH_QUEUE), by kind and reason (attempts, undeliverable)',
      labelNames: ['kind', 'reason'] as const,
      registers: [registry],
    }),
    balancerRecomputes: new Counter({ name: 'cp_balancer_recomputes_total', help: 'Balancer allocation runs', labelNames: ['installation'] as const, registers: [registry] }),
    profilesSent: new Counter({
      name: 'cp_charging_profiles_sent_total',
      help: 'SetChargingProfile calls sent by the balancer, by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    failsafeInstallations: new Gauge({
      name: 'cp_balancer_failsafe_installations',
      help: "Installations this node balances on their failsafe current (the energy manager's dynamic limit expired)",
      registers: [registry],
    }),
    phaseAllocation: new Gauge({
      name: 'cp_phase_allocated_amperes',
      help: 'Current allocated per grid phase per installation',
      labelNames: ['installation', 'phase'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

const ocppChildren = new WeakMap<Metrics, Map<string, { inc(): void }>>();

/** Counts one OCPP message; label children are cached because this runs on every message. */
export function countOcpp(metrics: Metrics, direction: 'in' | 'out', action: string, result: string): void {
  let children = ocppChildren.get(metrics);
  if (!children) ocppChildren.set(metrics, (children = new Map()));
  const key = `${direction}|${action}|${result}`;
  let child = children.get(key);
  if (!child) children.set(key, (child = metrics.ocppMessages.labels(direction, action, result)));
  child.inc();
}

/** The label that names an installation; /metrics is unauthenticated, so it is left out unless enabled. */
const INSTALLATION_LABEL = 'installation';

/**
 * The Prometheus text of the node's metrics. Without `installationLabels` the installation label is
 * dropped and its series summed (recomputes and allocated amperes per phase over all installations),
 * so an anonymous scrape does not list the installations.
 */
export async function metricsText(metrics: Metrics, installationLabels: boolean): Promise<string> {
  if (installationLabels) return metrics.registry.metrics();
  const json = (await metrics.registry.getMetricsAsJSON()) as MetricObjectWithValues<MetricValue<string>>[];
  const stripped = json.map((m) => ({
    ...m,
    values: m.values.map((v) => {
      const { [INSTALLATION_LABEL]: _dropped, ...labels } = v.labels;
      return { ...v, labels };
    }),
  }));
  return AggregatorRegistry.aggregate([stripped]).metrics();
}
