import { readFileSync } from 'node:fs';

/**
 * `npx tsx bench/heap-detail.ts <before.heapsnapshot> <after.heapsnapshot> <sessions> [top]`
 *
 * What the objects added between two snapshots are, per session: grouped by type and name (closures by
 * their function name) and by their first retainer (the object and property that hold them). The
 * heap bench keeps its snapshots with BENCH_HEAP_KEEP=<dir>. Objects are matched by their snapshot id,
 * which V8 keeps stable within one process, so "added" means exactly the objects the sessions brought.
 */

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function load(file: string): Snapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
}

function ids(s: Snapshot): Set<number> {
  const width = s.snapshot.meta.node_fields.length;
  const idAt = s.snapshot.meta.node_fields.indexOf('id');
  const out = new Set<number>();
  for (let i = 0; i < s.nodes.length; i += width) out.add(s.nodes[i + idAt]!);
  return out;
}

function main(): void {
  const [beforeFile, afterFile, sessionsArg, topArg] = process.argv.slice(2);
  if (!beforeFile || !afterFile || !sessionsArg) throw new Error('usage: heap-detail.ts <before> <after> <sessions> [top]');
  const sessions = Number(sessionsArg);
  const top = Number(topArg ?? 40);
  const old = ids(load(beforeFile));
  const s = load(afterFile);
  const meta = s.snapshot.meta;
  const nw = meta.node_fields.length;
  const ew = meta.edge_fields.length;
  const [typeAt, nameAt, idAt, sizeAt, edgeCountAt] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => meta.node_fields.indexOf(f)) as [number, number, number, number, number];
  const [eTypeAt, eNameAt, eToAt] = ['type', 'name_or_index', 'to_node'].map((f) => meta.edge_fields.indexOf(f)) as [number, number, number];
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const label = (n: number): string => {
    const type = nodeTypes[s.nodes[n + typeAt]!]!;
    const name = s.strings[s.nodes[n + nameAt]!]!;
    if (type === 'object' || type === 'closure' || type === 'native') return `${type}:${name.slice(0, 60)}`;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') return 'string';
    return `${type}:${name.slice(0, 40)}`;
  };
  // First retainer of every node (skipping weak edges).
  const retainer = new Int32Array(s.nodes.length / nw).fill(-1);
  const retainerEdge: string[] = new Array(s.nodes.length / nw);
  let e = 0;
  for (let n = 0; n < s.nodes.length; n += nw) {
    const count = s.nodes[n + edgeCountAt]!;
    for (let k = 0; k < count; k++, e += ew) {
      const et = edgeTypes[s.edges[e + eTypeAt]!]!;
      if (et === 'weak' || et === 'shortcut') continue;
      const to = s.edges[e + eToAt]! / nw;
      if (retainer[to] !== -1) continue;
      retainer[to] = n;
      const nm = s.edges[e + eNameAt]!;
      retainerEdge[to] = et === 'element' || et === 'hidden' ? `[${et}]` : String(s.strings[nm]).slice(0, 40);
    }
  }
  const byLabel = new Map<string, { count: number; bytes: number }>();
  const byRetained = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let n = 0; n < s.nodes.length; n += nw) {
    if (old.has(s.nodes[n + idAt]!)) continue;
    const size = s.nodes[n + sizeAt]!;
    if (nodeTypes[s.nodes[n + typeAt]!] === 'synthetic') continue;
    total += size;
    const l = label(n);
    const a = byLabel.get(l) ?? { count: 0, bytes: 0 };
    a.count++;
    a.bytes += size;
    byLabel.set(l, a);
    const r = retainer[n / nw]!;
    const rl = `${l}  <-  ${r >= 0 ? label(r) : '?'} .${retainerEdge[n / nw] ?? '?'}`;
    const b = byRetained.get(rl) ?? { count: 0, bytes: 0 };
    b.count++;
    b.bytes += size;
    byRetained.set(rl, b);
  }
  const print = (title: string, m: Map<string, { count: number; bytes: number }>): void => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, v] of [...m].sort((x, y) => y[1].bytes - x[1].bytes).slice(0, top)) {
      process.stdout.write(`${(v.bytes / sessions).toFixed(0).padStart(7)} B ${(v.count / sessions).toFixed(2).padStart(7)}  ${k}\n`);
    }
  };
  process.stdout.write(`new objects per session: ${(total / sessions).toFixed(0)} B\n`);
  print('by type:name (bytes per session, objects per session)', byLabel);
  print('by type:name <- first retainer', byRetained);
}

main();
