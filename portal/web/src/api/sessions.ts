import { ApiError } from './errors';
import { readBody } from './client';
import { http } from './http';
import type { CreateSession, Session, StreamProtocol } from './models';

/** One page of GET /sessions; continue asks for the next. */
interface SessionPage {
  sessions: Session[];
  continue?: string;
}

/**
 * Sessions: the caller's own, or for an admin everyone's unless user is
 * given. The API answers in pages; this follows them to the end (a
 * person's own sessions are few, bounded by their quota).
 */
export async function listSessions(signal?: AbortSignal, user?: string): Promise<Session[]> {
  const all: Session[] = [];
  let next: string | undefined;
  do {
    const page: SessionPage = await http.request<SessionPage>('/sessions', { signal, query: { user, continue: next } });
    all.push(...page.sessions);
    next = page.continue;
  } while (next);
  return all;
}

export const getSession = (id: string, signal?: AbortSignal) => http.request<Session>('/sessions/' + encodeURIComponent(id), { signal });

export const launchSession = (body: CreateSession) => http.request<Session>('/sessions', { method: 'POST', body });

export const terminateSession = (id: string) => http.request<Session>('/sessions/' + encodeURIComponent(id), { method: 'DELETE' });

export const hibernateSession = (id: string) =>
  http.request<Session>('/sessions/' + encodeURIComponent(id) + '/hibernate', { method: 'POST' });

export const wakeSession = (id: string) => http.request<Session>('/sessions/' + encodeURIComponent(id) + '/wake', { method: 'POST' });

/** The viewer's stream endpoints of a session. */
export function streamPaths(id: string) {
  const base = '/sessions/' + encodeURIComponent(id);
  return { connect: base + '/connect', web: base + '/web/' };
}

/** The WebSocket URL of a session's VNC stream on this page's host (no apps domain). */
export function connectSocketUrl(id: string, location: Location = window.location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api/v1${streamPaths(id).connect}`;
}

export type StreamProbe = { ready: false; session?: Session; retryAfterMs: number } | { ready: true };

/**
 * Asks the stream endpoint whether the session streams. When it does not
 * yet, the portal answers 202 with the session (waking it if it
 * hibernated), or 502 while the pod runs but its stream does not answer; a
 * terminated or failed session is an ApiError (409). A streaming session
 * answers a plain GET of /connect with 204, and its web client with the
 * client's page. A web client speaking RFB (NoVNC) is asked at /connect,
 * which answers the same with or without an apps domain.
 */
export async function probeStream(id: string, protocol: StreamProtocol, signal?: AbortSignal): Promise<StreamProbe> {
  const paths = streamPaths(id);
  const rfb = protocol === 'WebsockifyVNC' || protocol === 'NoVNC';
  const res = await http.raw(rfb ? paths.connect : paths.web, { signal });
  switch (true) {
    case res.status === 202: {
      const retry = Number(res.headers.get('Retry-After'));
      return { ready: false, session: (await readBody(res)) as Session, retryAfterMs: retry > 0 ? retry * 1000 : 2000 };
    }
    case res.status === 502 || res.status === 503:
      discard(res);
      return { ready: false, retryAfterMs: 2000 };
    case res.ok:
      discard(res);
      return { ready: true };
    default:
      throw await ApiError.from(res);
  }
}

/** Lets go of a body nobody reads (a web client's page, say). */
function discard(res: Response): void {
  res.body?.cancel().catch(() => {});
}
