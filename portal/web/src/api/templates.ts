import { http } from './http';
import type { Template } from './models';

export const listTemplates = (signal?: AbortSignal) =>
  http.request<{ templates: Template[] }>('/templates', { signal }).then((r) => r.templates);
