import type { Session } from '../../api/models';
import { humanizeReason } from '../sessions/humanize';
import { displayState } from '../sessions/sessionStatus';
import { reconnectDelay } from './backoff';
import type { StreamWait } from './waitForStream';

/** What the viewer shows: a start, the stream, a reconnection, a sleeping session, or why it cannot stream. */
export type Stage =
  | { kind: 'starting'; wait: StreamWait }
  | { kind: 'streaming'; connected: boolean }
  | { kind: 'reconnecting'; attempt: number; retryAt: number; goingAway: boolean }
  | { kind: 'hibernated' }
  | { kind: 'ended'; error: unknown };

export interface ViewerState {
  stage: Stage;
  /** Reconnections since the stream last connected: the backoff grows with them. */
  attempts: number;
  /** Counts the streams opened: each one mounts a viewer of its own. */
  connection: number;
}

export type ViewerAction =
  /** The portal reported the start's progress (waking or launching). */
  | { type: 'progress'; wait: StreamWait }
  /** The stream is up. A web client counts as connected at once; noVNC says so itself. */
  | { type: 'ready'; connected: boolean }
  /** noVNC connected. */
  | { type: 'connected' }
  /**
   * The stream closed. session: the session read right after, when it could
   * be; at and jitter (0…1) time the reconnection, kept out of the reducer
   * so that it stays pure.
   */
  | { type: 'dropped'; session?: Session; goingAway: boolean; at: number; jitter: number }
  /** The session as read again while it streams. */
  | { type: 'sessionRead'; session: Session }
  /** Start (again): the backoff passed, "Reconnect now", "Wake", a new launch. */
  | { type: 'start' }
  /** The session cannot stream: gone, not readable, or the viewer failed. */
  | { type: 'failed'; error: unknown };

export const initialViewerState: ViewerState = { stage: { kind: 'starting', wait: {} }, attempts: 0, connection: 0 };

export function viewerReducer(state: ViewerState, action: ViewerAction): ViewerState {
  switch (action.type) {
    case 'progress':
      // a report that arrives after the start ended changes nothing
      return state.stage.kind === 'starting' ? { ...state, stage: { kind: 'starting', wait: action.wait } } : state;
    case 'ready':
      return { ...state, connection: state.connection + 1, stage: { kind: 'streaming', connected: action.connected } };
    case 'connected':
      return { ...state, attempts: 0, stage: { kind: 'streaming', connected: true } };
    case 'dropped': {
      const next = action.session && afterStream(action.session);
      if (next) return { ...state, stage: next };
      const attempt = state.attempts + 1;
      const retryAt = action.at + reconnectDelay(attempt, () => action.jitter);
      return { ...state, attempts: attempt, stage: { kind: 'reconnecting', attempt, retryAt, goingAway: action.goingAway } };
    }
    case 'sessionRead': {
      // a web client in a frame does not tell when its session sleeps or ends: the periodic read does
      if (state.stage.kind !== 'streaming') return state;
      const next = afterStream(action.session);
      return next ? { ...state, stage: next } : state;
    }
    case 'start':
      return { ...state, stage: { kind: 'starting', wait: {} } };
    case 'failed':
      return { ...state, stage: { kind: 'ended', error: action.error } };
  }
}

/** Where the viewer goes when a session it streams is no longer running; undefined: reconnect. */
function afterStream(s: Session): Stage | undefined {
  switch (displayState(s)) {
    case 'hibernated':
      return { kind: 'hibernated' };
    case 'terminated':
      return { kind: 'ended', error: new Error('This session was terminated.') };
    case 'failed':
      return { kind: 'ended', error: new Error(`${humanizeReason(s.reason)}: ${s.message ?? 'the session failed.'}`) };
    default:
      return undefined;
  }
}
