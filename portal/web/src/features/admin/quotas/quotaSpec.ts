import type { Quota, QuotaLimits, QuotaSpec } from '../../../api/models';
import { shortGoDuration } from '../../../lib/time';

export const limitFields: {
  key: keyof QuotaLimits;
  label: string;
  column: string;
  kind: 'count' | 'quantity' | 'duration';
  hint: string;
}[] = [
  { key: 'maxSessions', column: 'Sessions', label: 'Max sessions', kind: 'count', hint: 'Running or hibernated' },
  { key: 'maxRunningSessions', column: 'Running', label: 'Max running sessions', kind: 'count', hint: 'At once' },
  { key: 'memory', column: 'Memory', label: 'Memory', kind: 'quantity', hint: 'Of all running sessions, e.g. 8Gi' },
  { key: 'cpu', column: 'CPU', label: 'CPU', kind: 'quantity', hint: 'Of all running sessions, e.g. 4' },
  { key: 'homeStorage', column: 'Home', label: 'Home storage', kind: 'quantity', hint: 'Home volume size, e.g. 20Gi' },
  { key: 'maxSessionDuration', column: 'Max duration', label: 'Max session duration', kind: 'duration', hint: 'e.g. 8h' },
  { key: 'idleTimeout', column: 'Idle timeout', label: 'Idle timeout', kind: 'duration', hint: 'Before hibernation, e.g. 30m' },
];

/** A quota's limits as form text, one string per limit; empty is unlimited. */
export type LimitsForm = Record<keyof QuotaLimits, string>;

export interface QuotaForm {
  default: boolean;
  users: string[];
  groups: string[];
  limits: LimitsForm;
}

export function formOf(q: Quota): QuotaForm {
  const limits = {} as LimitsForm;
  for (const f of limitFields) {
    const v = q.limits?.[f.key];
    limits[f.key] = v === undefined || v === null ? '' : f.kind === 'duration' ? shortGoDuration(String(v)) : String(v);
  }
  return { default: q.default, users: q.users ?? [], groups: q.groups ?? [], limits };
}

/**
 * The spec to propose. Every limit is sent: an empty one as null, which
 * clears it (the portal merges the change into what Git has).
 */
export function specOf(form: QuotaForm): QuotaSpec {
  const limits: Record<string, string | number | null> = {};
  for (const f of limitFields) {
    const v = form.limits[f.key].trim();
    limits[f.key] = v === '' ? null : f.kind === 'count' ? Number(v) : v;
  }
  return { default: form.default, users: form.users, groups: form.groups, limits: limits as QuotaSpec['limits'] };
}

/** Local checks before the cluster's own: counts are whole numbers. */
export function validate(form: QuotaForm): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const f of limitFields) {
    const v = form.limits[f.key].trim();
    if (f.kind === 'count' && v !== '' && !/^\d+$/.test(v)) errors[`spec.limits.${f.key}`] = 'a whole number';
  }
  return errors;
}
