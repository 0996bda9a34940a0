import { http } from './http';
import type {
  AdminUser,
  Analytics,
  APIToken,
  AuditEvent,
  Change,
  ChangeResult,
  ChangeUnchanged,
  CreatedAPIToken,
  NewAPIToken,
  NewUser,
  Quota,
  QuotaSpec,
  ReconcileRequested,
  Sync,
  UpdateUser,
} from './models';

const user = (name: string) => '/admin/users/' + encodeURIComponent(name);

export const listUsers = (signal?: AbortSignal) => http.request<{ users: AdminUser[] }>('/admin/users', { signal }).then((r) => r.users);

export const createUser = (body: NewUser) => http.request<AdminUser>('/admin/users', { method: 'POST', body });

export const updateUser = (name: string, body: UpdateUser) => http.request<AdminUser>(user(name), { method: 'PATCH', body });

export const listUserTokens = (name: string, signal?: AbortSignal) =>
  http.request<{ tokens: APIToken[] }>(user(name) + '/tokens', { signal }).then((r) => r.tokens);

export const createUserToken = (name: string, body: NewAPIToken) =>
  http.request<CreatedAPIToken>(user(name) + '/tokens', { method: 'POST', body });

export const revokeUserToken = (name: string, id: string) =>
  http.request<void>(user(name) + '/tokens/' + encodeURIComponent(id), { method: 'DELETE' });

export const listAudit = (query: { actor?: string; action?: string; limit?: number }, signal?: AbortSignal) =>
  http.request<{ events: AuditEvent[] }>('/admin/audit', { query, signal }).then((r) => r.events);

export const getAnalytics = (days: number, signal?: AbortSignal) =>
  http.request<Analytics>('/admin/analytics', { query: { days }, signal });

export const listQuotas = (signal?: AbortSignal) => http.request<{ quotas: Quota[] }>('/admin/quotas', { signal }).then((r) => r.quotas);

export const listSyncs = (signal?: AbortSignal) => http.request<{ syncs: Sync[] }>('/admin/sync', { signal }).then((r) => r.syncs);

export const reconcileSync = (name: string) =>
  http.request<ReconcileRequested>('/admin/sync/' + encodeURIComponent(name) + '/reconcile', { method: 'POST' });

/** 202: proposed (a pull request or a commit); 200: Git already holds it. */
export type ProposeResult = ChangeResult | ChangeUnchanged;

export const proposeTemplate = (name: string, change: Change<Record<string, unknown>>) =>
  http.request<ProposeResult>('/admin/templates/' + encodeURIComponent(name), { method: 'PUT', body: change });

export const proposeQuota = (name: string, change: Change<QuotaSpec>) =>
  http.request<ProposeResult>('/admin/quotas/' + encodeURIComponent(name), { method: 'PUT', body: change });

export function isUnchanged(result: ProposeResult): result is ChangeUnchanged {
  return 'unchanged' in result && result.unchanged;
}

type CreateSchemas = import('./types').components['schemas'];
export type TemplateCreate = CreateSchemas['TemplateCreate'];
export type QuotaCreate = Omit<CreateSchemas['QuotaCreate'], 'spec'> & { spec: QuotaSpec };
export type TemplateCreated = Omit<CreateSchemas['TemplateCreated'], 'result'> & { result: ChangeResult };
export type DeleteResult = Omit<CreateSchemas['DeleteResult'], 'result'> & { result: ChangeResult };

/** A new template from an image reference; the catalog's conventions fill in the rest. */
export const createTemplate = (body: TemplateCreate) => http.request<TemplateCreated>('/admin/templates', { method: 'POST', body });

export const createQuota = (body: QuotaCreate) => http.request<ChangeResult>('/admin/quotas', { method: 'POST', body });

/** Proposes removing the object from Git; a DELETE carries its reason in the query. */
export const deleteFromGit = (kind: 'templates' | 'quotas', name: string, reason: string) =>
  http.request<DeleteResult>(`/admin/${kind}/${encodeURIComponent(name)}`, { method: 'DELETE', query: { reason } });
