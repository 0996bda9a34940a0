import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import type { Session } from '../../api/models';
import { TemplateIcon } from '../../components/TemplateIcon';
import { useNow } from '../../hooks/useNow';
import { formatDuration } from '../../lib/time';
import { currentStart, isWaking, waitingFor } from '../sessions/sessionStatus';
import { StartProgressStepper } from '../sessions/StartProgressStepper';
import { StatusPanel } from './StatusPanel';

interface Props {
  title: string;
  icon?: string;
  session?: Session;
  problem?: string;
}

/** A session launching or waking: its steps as they happen. */
export function StartingView({ title, icon, session, problem }: Props) {
  const now = useNow(1000);
  const start = session && currentStart(session);
  const verb = session && isWaking(session) ? 'Waking' : start ? 'Launching' : 'Connecting to';
  const elapsed = start ? now - Date.parse(start.requestedAt) : undefined;
  return (
    <StatusPanel label="Session starting">
      <Box sx={{ display: 'flex', alignItems: 'center', gap: 2, mb: 3 }}>
        <TemplateIcon name={title} icon={icon} size={48} />
        <Box sx={{ flex: 1, minWidth: 0 }}>
          <Typography variant="h2" component="h1">
            {verb} {title}
          </Typography>
          <Typography color="textSecondary" aria-live="polite">
            {start ? waitingFor(start.step) : 'Checking the session'}…
            {elapsed !== undefined && elapsed > 0 && ` ${formatDuration(elapsed)}`}
          </Typography>
        </Box>
      </Box>
      <StartProgressStepper progress={start} />
      {session?.message && (
        <Typography variant="body2" color="textSecondary" sx={{ mt: 3, textAlign: 'center', overflowWrap: 'anywhere' }}>
          {session.message}
        </Typography>
      )}
      {problem && (
        <Alert severity="warning" sx={{ mt: 3 }}>
          {problem}
        </Alert>
      )}
      <Typography variant="body2" color="textSecondary" sx={{ mt: 3, textAlign: 'center' }}>
        The stream opens by itself as soon as it is ready.
      </Typography>
    </StatusPanel>
  );
}
