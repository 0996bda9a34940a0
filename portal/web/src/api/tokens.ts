import { http } from './http';
import type { APIToken, CreatedAPIToken, NewAPIToken } from './models';

export const listTokens = (signal?: AbortSignal) => http.request<{ tokens: APIToken[] }>('/tokens', { signal }).then((r) => r.tokens);

export const createToken = (body: NewAPIToken) => http.request<CreatedAPIToken>('/tokens', { method: 'POST', body });

export const revokeToken = (id: string) => http.request<void>('/tokens/' + encodeURIComponent(id), { method: 'DELETE' });
