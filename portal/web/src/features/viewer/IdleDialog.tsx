import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import { formatDuration } from '../../lib/time';

interface Props {
  open: boolean;
  remainingMs: number;
  /**
   * The viewer can send input itself (noVNC): the button does. A web
   * client in a frame cannot be reached from here: the user is asked to
   * click inside it.
   */
  canNudge: boolean;
  onStillHere: () => void;
}

export function IdleDialog({ open, remainingMs, canNudge, onStillHere }: Props) {
  const left = remainingMs > 0 ? formatDuration(remainingMs) : 'moments';
  return (
    <Dialog open={open} onClose={onStillHere} aria-labelledby="idle-title" aria-describedby="idle-text" maxWidth="xs" fullWidth>
      <DialogTitle id="idle-title">Still there?</DialogTitle>
      <DialogContent>
        <DialogContentText id="idle-text">
          This session has had no input for a while and hibernates in <strong>{left}</strong> to free its resources. Your files are kept
          either way.{' '}
          {canNudge ? 'Keep it awake if you are still using it.' : 'Click inside the session or press a key in it to keep it awake.'}
        </DialogContentText>
      </DialogContent>
      <DialogActions>
        <Button variant="contained" onClick={onStillHere} autoFocus>
          {canNudge ? "I'm still here" : 'OK'}
        </Button>
      </DialogActions>
    </Dialog>
  );
}
