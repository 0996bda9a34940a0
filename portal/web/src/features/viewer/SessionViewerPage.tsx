import Box from '@mui/material/Box';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { ApiError, errorMessage } from '../../api/errors';
import { connectSocketUrl, getSession, launchSession, streamPaths, terminateSession } from '../../api/sessions';
import { listTemplates } from '../../api/templates';
import type { Session } from '../../api/models';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { useNotify } from '../../components/Notifier';
import { useResource } from '../../hooks/useResource';
import { isQuotaError, quotaMessage } from '../sessions/quotaMessage';
import { displayState } from '../sessions/sessionStatus';
import { humanizeReason } from '../sessions/humanize';
import { GOING_AWAY, reconnectDelay } from './backoff';
import { ClipboardPanel } from './ClipboardPanel';
import { clipboardPolicy } from './dataPolicy';
import { EndedView } from './EndedView';
import { HibernatedView } from './HibernatedView';
import { IdleDialog } from './IdleDialog';
import { ReconnectingView } from './ReconnectingView';
import { StartingView } from './StartingView';
import { useFullscreen } from './useFullscreen';
import { useIdleWarning } from './useIdleWarning';
import { VncViewer, type DisconnectInfo, type VncHandle } from './VncViewer';
import { ViewerToolbar, type ConnectionState } from './ViewerToolbar';
import { waitForStream, type StreamWait } from './waitForStream';
import { WebClientViewer } from './WebClientViewer';

type Stage =
  | { kind: 'starting'; wait: StreamWait }
  | { kind: 'streaming'; connected: boolean }
  | { kind: 'reconnecting'; attempt: number; retryAt: number; goingAway: boolean }
  | { kind: 'hibernated' }
  | { kind: 'ended'; error: unknown };

/** While streaming, re-read the session this often for its idle deadline. */
const SESSION_REFRESH_MS = 20_000;

/**
 * The viewer: waits for the session to stream (waking it if it sleeps,
 * showing each start step), then shows it — noVNC for VNC over WebSocket,
 * the template's own web client in a frame otherwise — and reconnects when
 * the stream drops.
 */
export default function SessionViewerPage() {
  const { id = '' } = useParams();
  const navigate = useNavigate();
  const notify = useNotify();
  const [stage, setStage] = useState<Stage>({ kind: 'starting', wait: {} });
  const stageRef = useRef(stage);
  stageRef.current = stage;
  const [connection, setConnection] = useState(0);
  const attempts = useRef(0);
  const vnc = useRef<VncHandle>(null);
  const page = useRef<HTMLDivElement>(null);
  const { fullscreen, toggle: toggleFullscreen } = useFullscreen(page);
  const [clipboardAnchor, setClipboardAnchor] = useState<HTMLElement | null>(null);
  const [remoteClipboard, setRemoteClipboard] = useState('');
  const [confirmTerminate, setConfirmTerminate] = useState(false);
  const [relaunching, setRelaunching] = useState(false);

  const session = useResource((signal) => getSession(id, signal), [id], {
    pollMs: () => (stageRef.current.kind === 'streaming' ? SESSION_REFRESH_MS : null),
  });
  const templates = useResource((signal) => listTemplates(signal), []);
  const template = templates.data?.find((t) => t.name === session.data?.template);
  const protocol = template?.stream.protocol;
  const isVnc = protocol === 'WebsockifyVNC';
  const clipboard = clipboardPolicy(template?.dataPolicy);
  const title = template?.displayName ?? session.data?.template ?? id;

  useEffect(() => {
    document.title = `${title} — StreamSpace`;
    return () => {
      document.title = 'StreamSpace';
    };
  }, [title]);

  // A session that cannot be read cannot be viewed.
  useEffect(() => {
    if (session.error !== undefined && session.data === undefined) setStage({ kind: 'ended', error: session.error });
  }, [session.error, session.data]);

  // Starting: wait for the stream, showing the progress, then connect.
  useEffect(() => {
    if (stage.kind !== 'starting' || !protocol) return;
    const ac = new AbortController();
    // a session known to run is connected to at once; the stream endpoint
    // is asked (and wakes the session) only when it does not
    const running = session.data !== undefined && displayState(session.data) === 'running';
    (running ? Promise.resolve() : waitForStream(id, protocol, (wait) => setStage({ kind: 'starting', wait }), ac.signal))
      .then(() => {
        if (ac.signal.aborted) return;
        setConnection((c) => c + 1);
        setStage({ kind: 'streaming', connected: protocol !== 'WebsockifyVNC' });
        void session.reload();
      })
      .catch((error: unknown) => {
        if (!ac.signal.aborted) setStage({ kind: 'ended', error });
      });
    return () => ac.abort();
    // once per start, not on each progress report (which keeps the kind)
  }, [stage.kind, protocol, id]);

  // Reconnecting: start again once the backoff has passed.
  useEffect(() => {
    if (stage.kind !== 'reconnecting') return;
    const t = setTimeout(() => setStage({ kind: 'starting', wait: {} }), Math.max(0, stage.retryAt - Date.now()));
    return () => clearTimeout(t);
  }, [stage]);

  // Streaming: the session may hibernate or end under us (a web client in a
  // frame does not tell); the periodic read of the session does.
  useEffect(() => {
    const s = session.data;
    if (!s || stageRef.current.kind !== 'streaming') return;
    const next = afterStream(s);
    if (next) setStage(next);
  }, [session.data]);

  const onConnect = useCallback(() => {
    attempts.current = 0;
    setStage({ kind: 'streaming', connected: true });
  }, []);

  const onDisconnect = useCallback(
    async (info: DisconnectInfo) => {
      let latest: Session | undefined;
      try {
        latest = await getSession(id);
        session.setData(() => latest);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return setStage({ kind: 'ended', error });
      }
      const next = latest && afterStream(latest);
      if (next) return setStage(next);
      attempts.current += 1;
      setStage({
        kind: 'reconnecting',
        attempt: attempts.current,
        retryAt: Date.now() + reconnectDelay(attempts.current),
        goingAway: info.code === GOING_AWAY,
      });
    },
    [id, session.setData],
  );

  const onClipboard = useCallback((text: string) => {
    setRemoteClipboard(text);
    // best effort: browsers allow it only while the page has the focus
    navigator.clipboard?.writeText(text).catch(() => {});
  }, []);

  const streaming = stage.kind === 'streaming';
  const idle = useIdleWarning(session.data?.idleDeadline, streaming && stage.connected);
  const stillHere = () => {
    if (isVnc) vnc.current?.nudge();
    idle.snooze();
    // the portal records the input and moves the deadline; read it back
    setTimeout(() => void session.reload(), 3000);
  };

  const relaunch = async () => {
    if (!session.data) return;
    setRelaunching(true);
    try {
      const s = await launchSession({ template: session.data.template });
      navigate(`/session/${encodeURIComponent(s.name)}`, { replace: true });
      setStage({ kind: 'starting', wait: {} });
    } catch (err) {
      notify(isQuotaError(err) ? quotaMessage(err) : errorMessage(err), 'error');
    } finally {
      setRelaunching(false);
    }
  };

  const connectionState: ConnectionState = {
    starting: 'starting',
    streaming: streaming && stage.connected ? 'connected' : 'connecting',
    reconnecting: 'reconnecting',
    hibernated: 'hibernated',
    ended: 'ended',
  }[stage.kind] as ConnectionState;

  const idleMs = session.data?.idleDeadline ? idle.remainingMs : undefined;

  return (
    <Box ref={page} sx={{ height: '100vh', display: 'flex', flexDirection: 'column', bgcolor: 'background.default' }}>
      <ViewerToolbar
        title={title}
        sessionName={id}
        icon={template?.icon}
        connection={connectionState}
        idleMs={idleMs}
        fullscreen={fullscreen}
        onToggleFullscreen={toggleFullscreen}
        onOpenClipboard={isVnc && streaming ? setClipboardAnchor : undefined}
        onCtrlAltDel={isVnc && streaming ? () => vnc.current?.sendCtrlAltDel() : undefined}
        onTerminate={session.data && stage.kind !== 'ended' ? () => setConfirmTerminate(true) : undefined}
      />
      <Box sx={{ flex: 1, position: 'relative', bgcolor: '#1b1d22', minHeight: 0 }}>
        {stage.kind === 'starting' && (
          <StartingView title={title} icon={template?.icon} session={stage.wait.session ?? session.data} problem={stage.wait.problem} />
        )}
        {streaming && isVnc && (
          <VncViewer
            key={connection}
            ref={vnc}
            url={connectSocketUrl(id)}
            allowPaste={clipboard.paste}
            allowCopy={clipboard.copy}
            onConnect={onConnect}
            onDisconnect={onDisconnect}
            onClipboard={onClipboard}
            onFailure={(message) => setStage({ kind: 'ended', error: new Error(message) })}
          />
        )}
        {streaming && !isVnc && (
          <WebClientViewer
            key={connection}
            src={'/api/v1' + streamPaths(id).web}
            title={`${title} session`}
            allowPaste={clipboard.paste}
            allowCopy={clipboard.copy}
          />
        )}
        {stage.kind === 'reconnecting' && (
          <ReconnectingView
            goingAway={stage.goingAway}
            attempt={stage.attempt}
            retryAt={stage.retryAt}
            onRetryNow={() => setStage({ kind: 'starting', wait: {} })}
          />
        )}
        {stage.kind === 'hibernated' && <HibernatedView title={title} onWake={() => setStage({ kind: 'starting', wait: {} })} />}
        {stage.kind === 'ended' && (
          <EndedView
            error={stage.error}
            onLaunchAgain={template && session.data && displayState(session.data) === 'terminated' ? relaunch : undefined}
            launching={relaunching}
          />
        )}
      </Box>
      <IdleDialog open={idle.open} remainingMs={idle.remainingMs} canNudge={isVnc} onStillHere={stillHere} />
      <ClipboardPanel
        anchor={clipboardAnchor}
        onClose={() => {
          setClipboardAnchor(null);
          vnc.current?.focus();
        }}
        allowPaste={clipboard.paste}
        allowCopy={clipboard.copy}
        remoteText={remoteClipboard}
        onPaste={(text) => vnc.current?.paste(text)}
      />
      <ConfirmDialog
        open={confirmTerminate}
        title={`Terminate ${title}?`}
        description="The session stops for good and unsaved work in its apps is lost. Files in your home folder are kept."
        confirmLabel="Terminate"
        destructive
        onConfirm={async () => {
          await terminateSession(id);
          notify(`${title} terminated`);
          navigate('/dashboard');
        }}
        onClose={() => setConfirmTerminate(false)}
      />
    </Box>
  );
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
