import { ApiError } from '../../api/errors';
import { http } from '../../api/http';
import { connectSocketUrl, streamPaths } from '../../api/sessions';
import type { components } from '../../api/types';

type AppsTicket = components['schemas']['AppsTicket'];

/**
 * A one-time ticket to the session's own apps host, or undefined when the
 * portal has no apps domain (it answers 404 saying so): then the session
 * is served on the portal's own origin. A ticket is spent by one load, so
 * every connection asks for a fresh one.
 */
async function appsTicket(id: string): Promise<AppsTicket | undefined> {
  try {
    return await http.request<AppsTicket>('/sessions/' + encodeURIComponent(id) + '/apps-ticket', { method: 'POST' });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && err.message.includes('apps domain')) return undefined;
    throw err;
  }
}

/**
 * Where the viewer's frame loads a session's web client: its apps host's
 * sign-in URL, else the path on the portal's origin (--path-web-clients).
 */
export async function webClientSrc(id: string): Promise<string> {
  return (await appsTicket(id))?.url ?? '/api/v1' + streamPaths(id).web;
}

/**
 * Where the portal's noVNC viewer opens the session's stream: on its apps
 * host, the ticket in the URL (the page's cookies do not reach that host),
 * else /connect on the portal's origin.
 */
export async function streamSocketUrl(id: string): Promise<string> {
  return (await appsTicket(id))?.connect ?? connectSocketUrl(id);
}
