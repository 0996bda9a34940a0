import Box from '@mui/material/Box';
import { forwardRef } from 'react';

interface Props {
  /** The session's web client: its apps host's sign-in URL, or /api/v1/sessions/{id}/web/. */
  src: string;
  title: string;
  /** The template's data policy: the frame gets the clipboard only as far as it allows. */
  allowPaste: boolean;
  allowCopy: boolean;
  /** The template lets files leave the session. */
  allowDownloads: boolean;
}

/**
 * A template's own web client (KasmVNC, Selkies) in a frame. Its
 * connection, reconnection and clipboard are the client's own.
 */
export const WebClientViewer = forwardRef<HTMLIFrameElement, Props>(function WebClientViewer(
  { src, title, allowPaste, allowCopy, allowDownloads },
  ref,
) {
  const allow = ['fullscreen', 'autoplay', allowPaste && 'clipboard-read', allowCopy && 'clipboard-write'].filter(Boolean).join('; ');
  // allow-same-origin keeps the frame its own origin (the session's apps
  // host, not the portal's: there it is other-origin whatever the sandbox
  // says), which its client needs for its cookie, storage and WebSocket;
  // without it the frame is an opaque origin and the client cannot sign in.
  // No allow-top-navigation, allow-popups: the session cannot lead the
  // portal's tab elsewhere.
  const sandbox = [
    'allow-scripts',
    'allow-same-origin',
    'allow-forms',
    'allow-pointer-lock',
    'allow-modals',
    allowDownloads && 'allow-downloads',
  ]
    .filter(Boolean)
    .join(' ');
  return (
    <Box data-testid="viewer" sx={{ position: 'absolute', inset: 0, bgcolor: '#1b1d22' }}>
      <Box
        component="iframe"
        ref={ref}
        src={src}
        title={title}
        allow={allow}
        sandbox={sandbox}
        sx={{ border: 0, width: '100%', height: '100%', display: 'block' }}
      />
    </Box>
  );
});
