import type { KV } from '@nats-io/kv';
import type { CredentialStore } from './credential-store.js';
import { PlatformError } from './errors.js';
import { newId } from './ids.js';
import { createJson, getJson, listKeys, updateJson } from './kv-json.js';
import type { Circuit, CircuitMeter, Installation } from './model.js';
import { installationInputSchema } from './schemas.js';
import { validateWith } from './validate.js';

/** What a user writes: the record without timestamps, plus write-only secrets. */
export interface InstallationInput {
  id?: string;
  name: string;
  fuse: Installation['fuse'];
  chargerPassword?: string;
  authorization?: Partial<Installation['authorization']>;
  ocpp?: Partial<Installation['ocpp']> & { initialPassword?: string };
  balancer?: Partial<Installation['balancer']>;
}

/** A patch: nested objects merge; `null` removes an optional field. */
export type InstallationPatch = { [K in keyof InstallationInput]?: unknown };

type ValidInput = Required<Pick<InstallationInput, 'name' | 'fuse'>> & {
  id?: string;
  chargerPassword?: string;
  authorization: Installation['authorization'];
  ocpp: Installation['ocpp'] & { initialPassword?: string };
  balancer: Installation['balancer'];
};

export class InstallationStore {
  constructor(
    private readonly kv: KV,
    private readonly credentials: CredentialStore,
  ) {}

  async create(input: unknown): Promise<Installation> {
    const valid = validateWith<ValidInput>(installationInputSchema, withSections(input));
    const id = valid.id ?? newId('inst');
    const now = new Date().toISOString();
    const record = toRecord(id, valid, now, now);
    if (!(await createJson(this.kv, id, record))) throw new PlatformError('ALREADY_EXISTS', `Installation ${id} already exists`);
    await this.storeSecrets(id, valid);
    return record;
  }

  async get(id: string): Promise<Installation | undefined> {
    return (await getJson<Installation>(this.kv, id))?.value;
  }

  async require(id: string): Promise<Installation> {
    const found = await this.get(id);
    if (!found) throw new PlatformError('NOT_FOUND', `Installation ${id} not found`);
    return found;
  }

  /** Ids in order; `after` is the cursor (the last id of the previous page). */
  async list(opts: { limit: number; after?: string; ids?: ReadonlySet<string> }): Promise<{ items: Installation[]; next?: string }> {
    const keys = (await listKeys(this.kv)).filter((k) => (!opts.after || k > opts.after) && (!opts.ids || opts.ids.has(k)));
    const page = keys.slice(0, opts.limit);
    const items = (await Promise.all(page.map((k) => this.get(k)))).filter((x): x is Installation => !!x);
    const next = keys.length > opts.limit ? page[page.length - 1] : undefined;
    return next ? { items, next } : { items };
  }

  async patch(id: string, patch: unknown): Promise<Installation> {
    if (!isPlainObject(patch)) throw new PlatformError('VALIDATION', '(body): must be object', { details: { field: '(body)' } });
    if ('id' in patch && patch.id !== id) throw new PlatformError('VALIDATION', 'id: cannot be changed', { details: { field: 'id' } });
    let secrets: ValidInput | undefined;
    const updated = await updateJson<Installation>(this.kv, id, (current) => {
      if (!current) throw new PlatformError('NOT_FOUND', `Installation ${id} not found`);
      const merged = mergePatch(toInput(current), patch);
      const valid = validateWith<ValidInput>(installationInputSchema, merged);
      secrets = valid;
      // Circuits and the root meter have their own routes; a patch of the installation keeps them.
      const { circuits, meter } = current;
      return { ...toRecord(id, valid, current.createdAt, new Date().toISOString()), ...(circuits ? { circuits } : {}), ...(meter ? { meter } : {}) };
    });
    if (secrets) await this.storeSecrets(id, secrets);
    return updated as Installation;
  }

  /**
   * Changes the installation's circuits (compare-and-set, so two writers never lose a circuit);
   * `change` returns the new list or throws (validation, conflict).
   */
  updateCircuits(id: string, change: (current: Installation) => Circuit[]): Promise<Installation> {
    return this.replaceField(id, 'circuits', (current) => {
      const circuits = change(current);
      return circuits.length > 0 ? circuits : undefined;
    });
  }

  /** Sets (or removes, with undefined) the meter settings of the installation's own fuse. */
  setRootMeter(id: string, meter: CircuitMeter | undefined): Promise<Installation> {
    return this.replaceField(id, 'meter', () => meter);
  }

  /** Replaces one optional field (absent when `next` gives undefined), compare-and-set. */
  private async replaceField<K extends 'circuits' | 'meter'>(id: string, key: K, next: (current: Installation) => Installation[K] | undefined): Promise<Installation> {
    const updated = await updateJson<Installation>(this.kv, id, (current) => {
      if (!current) throw new PlatformError('NOT_FOUND', `Installation ${id} not found`);
      const { [key]: _old, ...rest } = current;
      const value = next(current);
      return { ...rest, ...(value !== undefined ? { [key]: value } : {}), updatedAt: new Date().toISOString() } as Installation;
    });
    return updated as Installation;
  }

  async delete(id: string): Promise<boolean> {
    const existed = !!(await this.get(id));
    if (existed) {
      await this.kv.delete(id);
      await this.credentials.deleteInstallation(id);
    }
    return existed;
  }

  private async storeSecrets(id: string, valid: ValidInput): Promise<void> {
    if (valid.chargerPassword) await this.credentials.setInstallationChargerPassword(id, valid.chargerPassword);
    if (valid.ocpp.initialPassword) await this.credentials.setInstallationNorthPassword(id, valid.ocpp.initialPassword);
  }
}

function withSections(input: unknown): unknown {
  if (!isPlainObject(input)) return input;
  return { authorization: {}, ocpp: {}, balancer: {}, ...input };
}

function toRecord(id: string, v: ValidInput, createdAt: string, updatedAt: string): Installation {
  const { initialPassword: _secret, ...ocpp } = v.ocpp;
  return { id, name: v.name, fuse: v.fuse, authorization: v.authorization, ocpp, balancer: v.balancer, createdAt, updatedAt };
}

function toInput(r: Installation): Record<string, unknown> {
  return { name: r.name, fuse: r.fuse, authorization: r.authorization, ocpp: r.ocpp, balancer: r.balancer };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON merge patch (RFC 7386): objects merge, `null` deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
