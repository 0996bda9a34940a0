import { useCallback, useEffect, useReducer, useRef } from 'react';
import { ApiError } from '../../api/errors';
import type { Session, StreamProtocol } from '../../api/models';
import { getSession } from '../../api/sessions';
import { useResource } from '../../hooks/useResource';
import { displayState } from '../sessions/sessionStatus';
import { GOING_AWAY } from './backoff';
import { initialViewerState, viewerReducer } from './viewerStages';
import type { DisconnectInfo } from './VncViewer';
import { waitForStream } from './waitForStream';

/** While streaming, re-read the session this often for its idle deadline. */
const SESSION_REFRESH_MS = 20_000;

/**
 * The viewer's stages (see viewerReducer) driven by the session: waits for
 * the stream (waking the session if it sleeps), follows the session while
 * it streams, and reconnects with backoff when the stream drops.
 * protocolOf: how the session streams, once its template is known.
 */
export function useViewerStages(id: string, protocolOf: (session: Session) => StreamProtocol | undefined) {
  const [state, dispatch] = useReducer(viewerReducer, initialViewerState);
  const { stage } = state;
  const stageRef = useRef(stage);
  stageRef.current = stage;

  const session = useResource((signal) => getSession(id, signal), [id], {
    pollMs: () => (stageRef.current.kind === 'streaming' ? SESSION_REFRESH_MS : null),
  });
  const protocol = session.data && protocolOf(session.data);

  // A session that cannot be read cannot be viewed.
  useEffect(() => {
    if (session.error !== undefined && session.data === undefined) dispatch({ type: 'failed', error: session.error });
  }, [session.error, session.data]);

  // Starting: wait for the stream, showing the progress, then connect.
  useEffect(() => {
    if (stage.kind !== 'starting' || !protocol) return;
    const ac = new AbortController();
    // a session known to run is connected to at once; the stream endpoint
    // is asked (and wakes the session) only when it does not
    const running = session.data !== undefined && displayState(session.data) === 'running';
    (running ? Promise.resolve() : waitForStream(id, protocol, (wait) => dispatch({ type: 'progress', wait }), ac.signal))
      .then(() => {
        if (ac.signal.aborted) return;
        dispatch({ type: 'ready', connected: protocol !== 'WebsockifyVNC' });
        void session.reload();
      })
      .catch((error: unknown) => {
        if (!ac.signal.aborted) dispatch({ type: 'failed', error });
      });
    return () => ac.abort();
    // once per start, not on each progress report (which keeps the kind)
  }, [stage.kind, protocol, id]);

  // Reconnecting: start again once the backoff has passed.
  useEffect(() => {
    if (stage.kind !== 'reconnecting') return;
    const t = setTimeout(() => dispatch({ type: 'start' }), Math.max(0, stage.retryAt - Date.now()));
    return () => clearTimeout(t);
  }, [stage]);

  // Streaming: the session may hibernate or end under us.
  useEffect(() => {
    if (session.data) dispatch({ type: 'sessionRead', session: session.data });
  }, [session.data]);

  const onConnect = useCallback(() => dispatch({ type: 'connected' }), []);

  const onDisconnect = useCallback(
    async (info: DisconnectInfo) => {
      let latest: Session | undefined;
      try {
        latest = await getSession(id);
        session.setData(() => latest);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return dispatch({ type: 'failed', error });
      }
      dispatch({ type: 'dropped', session: latest, goingAway: info.code === GOING_AWAY, at: Date.now(), jitter: Math.random() });
    },
    [id, session.setData],
  );

  const start = useCallback(() => dispatch({ type: 'start' }), []);
  const fail = useCallback((error: unknown) => dispatch({ type: 'failed', error }), []);

  return { ...state, session, protocol, onConnect, onDisconnect, start, fail };
}
