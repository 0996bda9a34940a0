import Box from '@mui/material/Box';
import { useTheme } from '@mui/material/styles';
import { forwardRef, useEffect, useImperativeHandle, useRef } from 'react';
import type RFB from '@novnc/novnc';

export interface VncHandle {
  /** Sends text to the session's clipboard (when the template allows pasting). */
  paste(text: string): void;
  /** Sends a harmless pointer event where the pointer already is: the portal counts it as activity. */
  nudge(): void;
  focus(): void;
  sendCtrlAltDel(): void;
}

export interface DisconnectInfo {
  /** The RFB session ended as asked (we disconnected). */
  clean: boolean;
  /** The WebSocket close code; 1001 when the portal restarts. */
  code?: number;
  reason?: string;
}

interface Props {
  /** The ws(s):// URL of the session's stream. */
  url: string;
  allowPaste: boolean;
  allowCopy: boolean;
  onConnect: () => void;
  onDisconnect: (info: DisconnectInfo) => void;
  /** Text the session put on its clipboard (only when copying out is allowed). */
  onClipboard: (text: string) => void;
  onFailure: (message: string) => void;
}

/**
 * The noVNC client on the session's stream. The viewer owns the WebSocket
 * (cookies authenticate it) and hands it to noVNC, so it can read the close
 * code noVNC does not report.
 */
export const VncViewer = forwardRef<VncHandle, Props>(function VncViewer(
  { url, allowPaste, allowCopy, onConnect, onDisconnect, onClipboard, onFailure },
  ref,
) {
  const container = useRef<HTMLDivElement>(null);
  const rfbRef = useRef<RFB | null>(null);
  const pointer = useRef<{ x: number; y: number } | null>(null);
  const theme = useTheme();
  // the latest callbacks, without reconnecting when they change
  const callbacks = useRef({ onConnect, onDisconnect, onClipboard, onFailure, allowCopy });
  callbacks.current = { onConnect, onDisconnect, onClipboard, onFailure, allowCopy };

  useImperativeHandle(
    ref,
    () => ({
      paste(text) {
        if (allowPaste) rfbRef.current?.clipboardPasteFrom(text);
      },
      nudge() {
        const canvas = container.current?.querySelector('canvas');
        if (!canvas) return;
        const box = canvas.getBoundingClientRect();
        const at = pointer.current ?? { x: box.left + box.width / 2, y: box.top + box.height / 2 };
        canvas.dispatchEvent(new MouseEvent('mousemove', { clientX: at.x, clientY: at.y, bubbles: true }));
      },
      focus() {
        rfbRef.current?.focus();
      },
      sendCtrlAltDel() {
        rfbRef.current?.sendCtrlAltDel();
      },
    }),
    [allowPaste],
  );

  useEffect(() => {
    const target = container.current;
    if (!target) return;
    let closed = false;
    let socket: WebSocket | undefined;
    let rfb: RFB | undefined;
    let closeInfo: { code: number; reason: string } | undefined;
    const trackPointer = (e: MouseEvent) => {
      if (e.isTrusted) pointer.current = { x: e.clientX, y: e.clientY };
    };
    target.addEventListener('mousemove', trackPointer);

    // noVNC is loaded only by the viewer, in its own chunk
    void import('@novnc/novnc').then(({ default: RFBClass }) => {
      if (closed) return;
      socket = new WebSocket(url, ['binary']);
      // registered before noVNC's handler, so the code is known when it reports
      socket.addEventListener('close', (e) => {
        closeInfo = { code: e.code, reason: e.reason };
      });
      rfb = new RFBClass(target, socket, { shared: true });
      rfb.scaleViewport = true;
      rfb.resizeSession = true;
      rfb.background = theme.palette.mode === 'dark' ? '#000' : '#1b1d22';
      rfb.addEventListener('connect', () => {
        rfb?.focus();
        callbacks.current.onConnect();
      });
      rfb.addEventListener('disconnect', (e) => {
        if (closed) return;
        callbacks.current.onDisconnect({ clean: e.detail.clean, code: closeInfo?.code, reason: closeInfo?.reason });
      });
      rfb.addEventListener('clipboard', (e) => {
        if (callbacks.current.allowCopy) callbacks.current.onClipboard(e.detail.text);
      });
      rfb.addEventListener('credentialsrequired', () => {
        callbacks.current.onFailure(
          'The session asks for a VNC password; StreamSpace sessions should not. Ask an admin to check the template.',
        );
      });
      rfb.addEventListener('securityfailure', (e) => {
        callbacks.current.onFailure(`The session refused the connection: ${e.detail.reason ?? 'security failure ' + e.detail.status}`);
      });
      rfbRef.current = rfb;
    });

    return () => {
      closed = true;
      target.removeEventListener('mousemove', trackPointer);
      rfbRef.current = null;
      try {
        rfb?.disconnect();
      } catch {
        socket?.close();
      }
    };
    // one connection per URL (the theme's background is read once); the
    // viewer remounts this to reconnect
  }, [url]);

  return (
    <Box
      ref={container}
      data-testid="viewer"
      aria-label="Remote desktop"
      role="application"
      sx={{ position: 'absolute', inset: 0, overflow: 'hidden', bgcolor: '#1b1d22' }}
    />
  );
});
