import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Popover from '@mui/material/Popover';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { CopyButton } from '../../components/CopyButton';

interface Props {
  anchor: HTMLElement | null;
  onClose: () => void;
  allowPaste: boolean;
  allowCopy: boolean;
  /** What the session last put on its clipboard. */
  remoteText: string;
  onPaste: (text: string) => void;
}

/** The session's clipboard: send text in, read what it copied — as far as the template allows. */
export function ClipboardPanel({ anchor, onClose, allowPaste, allowCopy, remoteText, onPaste }: Props) {
  const [text, setText] = useState('');
  return (
    <Popover
      open={Boolean(anchor)}
      anchorEl={anchor}
      onClose={onClose}
      anchorOrigin={{ vertical: 'bottom', horizontal: 'right' }}
      transformOrigin={{ vertical: 'top', horizontal: 'right' }}
      slotProps={{ paper: { sx: { width: 360, p: 2 } } }}
    >
      <Typography variant="h3" sx={{ mb: 1.5 }}>
        Clipboard
      </Typography>
      <Typography variant="subtitle2" gutterBottom>
        Paste into the session
      </Typography>
      {allowPaste ? (
        <Box
          component="form"
          onSubmit={(e) => {
            e.preventDefault();
            onPaste(text);
            onClose();
          }}
        >
          <TextField
            label="Text to send"
            value={text}
            onChange={(e) => setText(e.target.value)}
            multiline
            minRows={2}
            maxRows={6}
            fullWidth
            size="small"
            autoFocus
          />
          <Button type="submit" variant="contained" size="small" sx={{ mt: 1 }} disabled={!text}>
            Send to the session clipboard
          </Button>
        </Box>
      ) : (
        <Alert severity="info">This app's policy does not allow pasting from your device.</Alert>
      )}
      <Typography variant="subtitle2" sx={{ mt: 2.5 }} gutterBottom>
        Copied in the session
      </Typography>
      {allowCopy ? (
        remoteText ? (
          <Box sx={{ display: 'flex', gap: 1, alignItems: 'flex-start' }}>
            <Box
              component="pre"
              sx={{
                m: 0,
                p: 1,
                flex: 1,
                bgcolor: 'action.hover',
                borderRadius: 1,
                maxHeight: 160,
                overflow: 'auto',
                whiteSpace: 'pre-wrap',
                wordBreak: 'break-word',
                fontSize: 13,
              }}
            >
              {remoteText}
            </Box>
            <CopyButton value={remoteText} label="text copied in the session" />
          </Box>
        ) : (
          <Typography variant="body2" color="textSecondary">
            Nothing yet. Text you copy in the session appears here.
          </Typography>
        )
      ) : (
        <Alert severity="info">This app's policy does not allow copying to your device.</Alert>
      )}
    </Popover>
  );
}
