import ErrorOutlineIcon from '@mui/icons-material/ErrorOutlineOutlined';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Typography from '@mui/material/Typography';
import { Link } from 'react-router';
import { ApiError, errorMessage } from '../../api/errors';
import { StatusPanel } from './StatusPanel';

interface Props {
  error: unknown;
  /** Offered when the session is gone for good but its template is still there. */
  onLaunchAgain?: () => void;
  launching?: boolean;
}

/** A session that cannot stream: terminated, failed, not found or not yours. */
export function EndedView({ error, onLaunchAgain, launching }: Props) {
  const notFound = error instanceof ApiError && error.status === 404;
  return (
    <StatusPanel label="Session not available">
      <Box sx={{ textAlign: 'center' }}>
        <ErrorOutlineIcon color="error" sx={{ fontSize: 48, mb: 1 }} aria-hidden />
        <Typography variant="h2" component="h1" gutterBottom>
          {notFound ? 'No such session' : 'This session is not available'}
        </Typography>
        <Typography color="textSecondary" sx={{ mb: 3, overflowWrap: 'anywhere' }}>
          {notFound ? 'It does not exist, or it is not yours.' : errorMessage(error)}
        </Typography>
        <Box sx={{ display: 'flex', gap: 1, justifyContent: 'center', flexWrap: 'wrap' }}>
          <Button component={Link} to="/dashboard" variant={onLaunchAgain ? 'outlined' : 'contained'}>
            Back to my sessions
          </Button>
          {onLaunchAgain && (
            <Button variant="contained" onClick={onLaunchAgain} loading={launching}>
              Launch a new session
            </Button>
          )}
        </Box>
      </Box>
    </StatusPanel>
  );
}
