import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import CircularProgress from '@mui/material/CircularProgress';
import Typography from '@mui/material/Typography';
import { useNow } from '../../hooks/useNow';
import { secondsLeft } from '../../lib/time';
import { StatusPanel } from './StatusPanel';

interface Props {
  /** The portal closed the stream because it restarts (close code 1001). */
  goingAway: boolean;
  attempt: number;
  retryAt: number;
  onRetryNow: () => void;
}

export function ReconnectingView({ goingAway, attempt, retryAt, onRetryNow }: Props) {
  const now = useNow(500);
  const seconds = secondsLeft(retryAt, now);
  return (
    <StatusPanel label="Reconnecting">
      <Box sx={{ textAlign: 'center' }} aria-live="polite">
        <CircularProgress sx={{ mb: 2 }} aria-hidden />
        <Typography variant="h2" component="h1" gutterBottom>
          {goingAway ? 'The portal is restarting' : 'The connection dropped'}
        </Typography>
        <Typography color="textSecondary" sx={{ mb: 3 }}>
          {seconds > 0 ? `Reconnecting in ${seconds}s` : 'Reconnecting…'}
          {attempt > 1 && ` (attempt ${attempt})`}. The session keeps running meanwhile.
        </Typography>
        <Button variant="contained" onClick={onRetryNow}>
          Reconnect now
        </Button>
      </Box>
    </StatusPanel>
  );
}
