import Box from '@mui/material/Box';
import LinearProgress from '@mui/material/LinearProgress';
import Typography from '@mui/material/Typography';
import type { StartProgress } from '../../api/models';
import { startSteps, waitingFor } from './sessionStatus';

/** A session card's one-line view of a launch or wake. */
export function StartProgressBar({
  progress,
  waking,
  message,
}: {
  progress: StartProgress | undefined;
  waking?: boolean;
  message?: string;
}) {
  const reached = progress ? startSteps.findIndex((s) => s.step === progress.step) : 0;
  const value = ((reached + 1) / startSteps.length) * 100;
  const current = Math.min(reached + 2, startSteps.length);
  const kind = waking || progress?.kind === 'Wake' ? 'Waking' : 'Launching';
  return (
    <Box>
      <Box sx={{ display: 'flex', justifyContent: 'space-between', mb: 0.75, gap: 1 }}>
        <Typography variant="body2" sx={{ fontWeight: 500 }}>
          {kind}: {waitingFor(progress?.step)}…
        </Typography>
        <Typography variant="body2" color="textSecondary" sx={{ whiteSpace: 'nowrap' }}>
          Step {current} of {startSteps.length}
        </Typography>
      </Box>
      <LinearProgress variant="determinate" value={value} aria-label={`${kind}: step ${reached + 1} of ${startSteps.length} done`} />
      {message && (
        <Typography variant="caption" color="textSecondary" sx={{ display: 'block', mt: 0.75 }} noWrap title={message}>
          {message}
        </Typography>
      )}
    </Box>
  );
}
