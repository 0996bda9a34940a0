import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Card from '@mui/material/Card';
import CardActions from '@mui/material/CardActions';
import CardContent from '@mui/material/CardContent';
import CardHeader from '@mui/material/CardHeader';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { Link } from 'react-router';
import type { Session, Template } from '../../api/models';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { TemplateIcon } from '../../components/TemplateIcon';
import { formatDuration, formatRelative } from '../../lib/time';
import { IDLE_WARNING_MS } from '../viewer/useIdleWarning';
import { humanizeReason } from './humanize';
import { currentStart, displayState, isWaking } from './sessionStatus';
import { SessionStatusChip } from './SessionStatusChip';
import { StartProgressBar } from './StartProgressBar';

interface Props {
  session: Session;
  /** The session's template, for its name and icon, once the catalog loaded. */
  template?: Template;
  /** The current time, for the countdowns. */
  now: number;
  onWake: (session: Session) => Promise<void>;
  onHibernate: (session: Session) => Promise<void>;
  onTerminate: (session: Session) => Promise<void>;
}

export function SessionCard({ session, template, now, onWake, onHibernate, onTerminate }: Props) {
  const state = displayState(session);
  const [confirming, setConfirming] = useState(false);
  const [waking, setWaking] = useState(false);
  const [hibernating, setHibernating] = useState(false);
  const title = template?.displayName ?? session.template;

  const wake = async () => {
    setWaking(true);
    try {
      await onWake(session);
    } finally {
      setWaking(false);
    }
  };

  const hibernate = async () => {
    setHibernating(true);
    try {
      await onHibernate(session);
    } finally {
      setHibernating(false);
    }
  };

  return (
    <Card
      data-testid={`session-card-${session.name}`}
      data-state={state}
      data-step={currentStart(session)?.step}
      component="article"
      aria-label={`${title} session ${session.name}`}
      sx={{ display: 'flex', flexDirection: 'column', height: '100%' }}
    >
      <CardHeader
        avatar={<TemplateIcon name={title} icon={template?.icon} />}
        title={
          <Typography variant="h3" component="h2" noWrap>
            {title}
          </Typography>
        }
        subheader={
          <Typography
            variant="caption"
            color="textSecondary"
            sx={{ fontFamily: 'monospace', display: 'block' }}
            noWrap
            title={session.name}
          >
            {session.name}
          </Typography>
        }
        action={<SessionStatusChip state={state} />}
        sx={{ pb: 1, '& .MuiCardHeader-content': { minWidth: 0 }, '& .MuiCardHeader-action': { alignSelf: 'center', m: 0 } }}
      />
      <CardContent sx={{ flex: 1, pt: 1 }}>
        <SessionDetails session={session} now={now} />
      </CardContent>
      <CardActions sx={{ px: 2, pb: 2, gap: 1 }}>
        {(state === 'running' || state === 'starting') && (
          <Button variant="contained" component={Link} to={`/session/${encodeURIComponent(session.name)}`}>
            {state === 'running' ? 'Connect' : 'Open'}
          </Button>
        )}
        {state === 'running' && (
          <Button onClick={hibernate} loading={hibernating} title="Stop the app now and free its resources; your home folder is kept">
            Hibernate
          </Button>
        )}
        {state === 'hibernated' && (
          <Button variant="contained" onClick={wake} loading={waking}>
            Wake
          </Button>
        )}
        <Box sx={{ flex: 1 }} />
        {state !== 'terminated' && (
          <Button color="error" onClick={() => setConfirming(true)}>
            Terminate
          </Button>
        )}
      </CardActions>
      <ConfirmDialog
        open={confirming}
        title={`Terminate ${title}?`}
        description={
          <>
            The session <strong>{session.name}</strong> stops for good and its unsaved work in open apps is lost. Files in your home folder
            are kept.
          </>
        }
        confirmLabel="Terminate"
        destructive
        onConfirm={() => onTerminate(session)}
        onClose={() => setConfirming(false)}
      />
    </Card>
  );
}

function SessionDetails({ session, now }: { session: Session; now: number }) {
  switch (displayState(session)) {
    case 'running': {
      const idleIn = session.idleDeadline ? Date.parse(session.idleDeadline) - now : undefined;
      return (
        <Box sx={{ display: 'grid', gap: 0.5 }}>
          {idleIn !== undefined && (
            <Typography variant="body2" color={idleIn < IDLE_WARNING_MS ? 'warning' : 'textSecondary'}>
              {idleIn > 0 ? `Hibernates in ${formatDuration(idleIn)} if idle` : 'Hibernating now (idle)'}
            </Typography>
          )}
          {session.expiresAt && (
            <Typography variant="body2" color="textSecondary">
              Ends {formatRelative(session.expiresAt, now)} (maximum duration)
            </Typography>
          )}
          <Typography variant="body2" color="textSecondary">
            Last active {formatRelative(session.lastActivity ?? session.createdAt, now)}
          </Typography>
        </Box>
      );
    }
    case 'starting':
      return <StartProgressBar progress={currentStart(session)} waking={isWaking(session)} message={session.message} />;
    case 'hibernated':
      return (
        <Typography variant="body2" color="textSecondary">
          {session.phase === 'Hibernated' ? 'Hibernated' : 'Hibernating'}; last active{' '}
          {formatRelative(session.lastActivity ?? session.createdAt, now)}. It uses no resources now and your files are kept: wake it to
          pick up where you left off.
        </Typography>
      );
    case 'failed':
      return (
        <Alert severity="error" variant="outlined" sx={{ '& .MuiAlert-message': { minWidth: 0, overflowWrap: 'anywhere' } }}>
          <AlertTitle>{humanizeReason(session.reason)}</AlertTitle>
          {session.message || 'The session could not start.'}
        </Alert>
      );
    case 'terminated':
      return (
        <Typography variant="body2" color="textSecondary">
          Ended. Started {formatRelative(session.createdAt, now)}.
        </Typography>
      );
  }
}
