import Box from '@mui/material/Box';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { errorMessage } from '../../api/errors';
import type { Session } from '../../api/models';
import { launchSession, terminateSession } from '../../api/sessions';
import { listTemplates } from '../../api/templates';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { useNotify } from '../../components/Notifier';
import { useResource } from '../../hooks/useResource';
import { useDocumentTitle } from '../../theme/PluginTheme';
import { isQuotaError, quotaMessage } from '../sessions/quotaMessage';
import { displayState } from '../sessions/sessionStatus';
import { ClipboardPanel } from './ClipboardPanel';
import { clipboardPolicy } from './dataPolicy';
import { EndedView } from './EndedView';
import { HibernatedView } from './HibernatedView';
import { IdleDialog } from './IdleDialog';
import { ReconnectingView } from './ReconnectingView';
import { StartingView } from './StartingView';
import { useFullscreen } from './useFullscreen';
import { useIdleWarning } from './useIdleWarning';
import { useViewerStages } from './useViewerStages';
import { VncViewer, type VncHandle } from './VncViewer';
import { ViewerToolbar, type ConnectionState } from './ViewerToolbar';
import { streamSocketUrl, webClientSrc } from './appsTicket';
import { WebClientViewer } from './WebClientViewer';

/**
 * The viewer: waits for the session to stream (waking it if it sleeps,
 * showing each start step), then shows it — noVNC for VNC over WebSocket,
 * the template's own web client in a frame otherwise, each from the
 * session's apps host when the portal has an apps domain — and reconnects
 * when the stream drops.
 */
export default function SessionViewerPage() {
  const { id = '' } = useParams();
  const navigate = useNavigate();
  const notify = useNotify();
  const templates = useResource((signal) => listTemplates(signal), []);
  const templateOf = (s: Session | undefined) => templates.data?.find((t) => t.name === s?.template);
  const { stage, connection, session, protocol, onConnect, onDisconnect, start, fail } = useViewerStages(
    id,
    (s) => templateOf(s)?.stream.protocol,
  );
  const vnc = useRef<VncHandle>(null);
  const page = useRef<HTMLDivElement>(null);
  const { fullscreen, toggle: toggleFullscreen } = useFullscreen(page);
  const [clipboardAnchor, setClipboardAnchor] = useState<HTMLElement | null>(null);
  const [remoteClipboard, setRemoteClipboard] = useState('');
  const [confirmTerminate, setConfirmTerminate] = useState(false);
  const [relaunching, setRelaunching] = useState(false);

  const template = templateOf(session.data);
  const isVnc = protocol === 'WebsockifyVNC';
  const clipboard = clipboardPolicy(template?.dataPolicy);
  const title = template?.displayName ?? session.data?.template ?? id;

  useDocumentTitle(title);

  const onClipboard = useCallback((text: string) => {
    setRemoteClipboard(text);
    // best effort: browsers allow it only while the page has the focus
    navigator.clipboard?.writeText(text).catch(() => {});
  }, []);

  const streaming = stage.kind === 'streaming';
  // noVNC's stream URL or the web client's frame URL: a fresh one-time
  // ticket for every connection (each is loaded once), so a URL is used
  // only by the connection it was made for
  const [made, setMade] = useState<{ connection: number; url: string }>();
  const src = made?.connection === connection ? made.url : undefined;
  const failRef = useRef(fail);
  failRef.current = fail;
  useEffect(() => {
    if (!streaming) return;
    let live = true;
    (isVnc ? streamSocketUrl(id) : webClientSrc(id)).then(
      (url) => live && setMade({ connection, url }),
      (err: unknown) => live && failRef.current(err),
    );
    return () => {
      live = false;
    };
  }, [streaming, isVnc, id, connection]);
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
      start();
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
        {streaming && isVnc && src && (
          <VncViewer
            key={connection}
            ref={vnc}
            url={src}
            allowPaste={clipboard.paste}
            allowCopy={clipboard.copy}
            onConnect={onConnect}
            onDisconnect={onDisconnect}
            onClipboard={onClipboard}
            onFailure={(message) => fail(new Error(message))}
          />
        )}
        {streaming && !isVnc && src && (
          <WebClientViewer
            key={connection}
            src={src}
            title={`${title} session`}
            allowPaste={clipboard.paste}
            allowCopy={clipboard.copy}
            allowDownloads={template?.dataPolicy?.fileDownload === true}
          />
        )}
        {stage.kind === 'reconnecting' && (
          <ReconnectingView goingAway={stage.goingAway} attempt={stage.attempt} retryAt={stage.retryAt} onRetryNow={start} />
        )}
        {stage.kind === 'hibernated' && <HibernatedView title={title} onWake={start} />}
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
