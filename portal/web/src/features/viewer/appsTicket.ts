import { ApiError } from '../../api/errors';
import { http } from '../../api/http';
import { streamPaths } from '../../api/sessions';
import type { components } from '../../api/types';

type AppsTicket = components['schemas']['AppsTicket'];

/**
 * Where the viewer's frame loads a session's web client: its own apps host,
 * signed in by a one-time ticket (so a fresh one for every load), when the
 * portal has an apps domain (404 otherwise); else the path on the portal's
 * origin (--path-web-clients).
 */
export async function webClientSrc(id: string): Promise<string> {
  try {
    const t = await http.request<AppsTicket>('/sessions/' + encodeURIComponent(id) + '/apps-ticket', { method: 'POST' });
    return t.url;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && err.message.includes('apps domain')) return '/api/v1' + streamPaths(id).web;
    throw err;
  }
}
