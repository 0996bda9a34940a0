import Chip, { type ChipProps } from '@mui/material/Chip';
import type { SessionDisplayState } from './sessionStatus';

const looks: Record<SessionDisplayState, { label: string; color: ChipProps['color'] }> = {
  running: { label: 'Running', color: 'success' },
  starting: { label: 'Starting', color: 'info' },
  hibernated: { label: 'Hibernated', color: 'default' },
  failed: { label: 'Failed', color: 'error' },
  terminated: { label: 'Ended', color: 'default' },
};

export function SessionStatusChip({ state }: { state: SessionDisplayState }) {
  const { label, color } = looks[state];
  return <Chip size="small" label={label} color={color} variant={state === 'running' || state === 'failed' ? 'filled' : 'outlined'} />;
}
