import CheckCircleIcon from '@mui/icons-material/CheckCircle';
import RadioButtonUncheckedIcon from '@mui/icons-material/RadioButtonUnchecked';
import Box from '@mui/material/Box';
import CircularProgress from '@mui/material/CircularProgress';
import Step from '@mui/material/Step';
import StepLabel from '@mui/material/StepLabel';
import Stepper from '@mui/material/Stepper';
import Typography from '@mui/material/Typography';
import type { StartProgress } from '../../api/models';
import { between, formatDuration, formatTime } from '../../lib/time';
import { startSteps } from './sessionStatus';

interface Props {
  progress: StartProgress | undefined;
}

/**
 * The four steps of a launch or wake — requested, scheduled, image ready,
 * stream ready — each with the time it took since the request.
 */
export function StartProgressStepper({ progress }: Props) {
  const reached = progress ? startSteps.findIndex((s) => s.step === progress.step) : -1;
  const active = reached + 1; // the step being waited for
  return (
    <Box data-testid="start-progress" data-step={progress?.step ?? 'none'}>
      <Stepper activeStep={active} alternativeLabel aria-label="Start progress" component="ol" sx={{ p: 0, listStyle: 'none' }}>
        {startSteps.map((s, i) => {
          const at = progress?.[s.at];
          const done = i <= reached && at !== undefined;
          const took = i > 0 ? between(progress?.requestedAt, at) : undefined;
          const state = done ? 'done' : i === active ? 'in progress' : 'waiting';
          return (
            <Step key={s.step} completed={done} component="li" aria-label={`${s.label}: ${state}`}>
              <StepLabel
                slots={{ stepIcon: () => <StepIcon state={done ? 'done' : i === active ? 'active' : 'waiting'} /> }}
                optional={
                  <Typography variant="caption" color="textSecondary" component="span" title={formatTime(at)}>
                    {done ? (took !== undefined ? `+${formatDuration(took)}` : formatTime(at)) : i === active ? 'now' : '\u00a0'}
                  </Typography>
                }
              >
                {s.label}
              </StepLabel>
            </Step>
          );
        })}
      </Stepper>
    </Box>
  );
}

function StepIcon({ state }: { state: 'done' | 'active' | 'waiting' }) {
  if (state === 'done') return <CheckCircleIcon color="success" />;
  if (state === 'active') return <CircularProgress size={22} thickness={5} aria-hidden />;
  return <RadioButtonUncheckedIcon color="disabled" />;
}
