import Box from '@mui/material/Box';
import { forwardRef } from 'react';

interface Props {
  /** The session's web client, /api/v1/sessions/{id}/web/. */
  src: string;
  title: string;
  /** The template's data policy: the frame gets the clipboard only as far as it allows. */
  allowPaste: boolean;
  allowCopy: boolean;
}

/**
 * A template's own web client (KasmVNC, Selkies) in a frame. Its
 * connection, reconnection and clipboard are the client's own.
 */
export const WebClientViewer = forwardRef<HTMLIFrameElement, Props>(function WebClientViewer({ src, title, allowPaste, allowCopy }, ref) {
  const allow = ['fullscreen', 'autoplay', allowPaste && 'clipboard-read', allowCopy && 'clipboard-write'].filter(Boolean).join('; ');
  return (
    <Box data-testid="viewer" sx={{ position: 'absolute', inset: 0, bgcolor: '#1b1d22' }}>
      <Box
        component="iframe"
        ref={ref}
        src={src}
        title={title}
        allow={allow}
        sx={{ border: 0, width: '100%', height: '100%', display: 'block' }}
      />
    </Box>
  );
});
