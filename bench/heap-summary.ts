import { readFileSync } from 'node:fs';

/**
 * Groups the objects of a V8 heap snapshot (`.heapsnapshot`) by constructor, the way DevTools'
 * summary view does: objects by their constructor name, closures, strings, internal arrays, compiled
 * code and V8's own structures in their bracketed groups. Two snapshots of one process (before and
 * after it took N sessions) give what one session holds, per constructor.
 */

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface ConstructorUse {
  name: string;
  count: number;
  bytes: number;
}

const GROUP_OF_TYPE: Record<string, string | undefined> = {
  closure: '(closure)',
  string: '(string)',
  'concatenated string': '(string)',
  'sliced string': '(string)',
  array: '(array)',
  code: '(compiled code)',
  hidden: '(system)',
  'object shape': '(system)',
  number: '(number)',
  regexp: '(regexp)',
  bigint: '(bigint)',
  synthetic: '(synthetic)',
};

export function summarizeHeapSnapshot(file: string): Map<string, ConstructorUse> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, ConstructorUse>();
  const { nodes, strings } = snap;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!] ?? '?';
    const group = GROUP_OF_TYPE[type] ?? strings[nodes[i + nameAt]!] ?? '?';
    if (group === '(synthetic)') continue;
    const entry = out.get(group) ?? { name: group, count: 0, bytes: 0 };
    entry.count += 1;
    entry.bytes += nodes[i + sizeAt]!;
    out.set(group, entry);
  }
  return out;
}

export interface PerSessionUse {
  name: string;
  /** Objects per session (difference / sessions). */
  perSession: number;
  /** Bytes per session (self sizes). */
  bytesPerSession: number;
}

/** What `sessions` sessions added between `before` and `after`, largest first. */
export function perSession(before: Map<string, ConstructorUse>, after: Map<string, ConstructorUse>, sessions: number, top = 5): PerSessionUse[] {
  const rows: PerSessionUse[] = [];
  for (const [name, a] of after) {
    const b = before.get(name);
    const bytes = a.bytes - (b?.bytes ?? 0);
    const count = a.count - (b?.count ?? 0);
    rows.push({ name, perSession: Number((count / sessions).toFixed(1)), bytesPerSession: Math.round(bytes / sessions) });
  }
  return rows.sort((x, y) => y.bytesPerSession - x.bytesPerSession).slice(0, top);
}
