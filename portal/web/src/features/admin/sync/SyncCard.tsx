import CheckCircleIcon from '@mui/icons-material/CheckCircle';
import ErrorIcon from '@mui/icons-material/Error';
import HelpIcon from '@mui/icons-material/HelpOutlineOutlined';
import SyncIcon from '@mui/icons-material/Sync';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Card from '@mui/material/Card';
import CardContent from '@mui/material/CardContent';
import Chip from '@mui/material/Chip';
import Typography from '@mui/material/Typography';
import type { Sync } from '../../../api/models';
import { CopyButton } from '../../../components/CopyButton';
import { formatDateTime, formatRelative } from '../../../lib/time';
import { DriftTable } from './DriftTable';
import { InventoryTable } from './InventoryTable';

interface Props {
  sync: Sync;
  now: number;
  syncing: boolean;
  onSyncNow: () => void;
}

export function readyLook(ready: string) {
  if (ready === 'True') return { label: 'Ready', color: 'success' as const, icon: <CheckCircleIcon /> };
  if (ready === 'False') return { label: 'Not ready', color: 'error' as const, icon: <ErrorIcon /> };
  return { label: 'Unknown', color: 'default' as const, icon: <HelpIcon /> };
}

/** Short commit of a revision like "main@sha1:0123abcd…". */
export function shortRevision(rev: string | undefined): string {
  if (!rev) return '—';
  const m = /^(.*?)(?:@sha1:|@)?([0-9a-f]{40})$/.exec(rev);
  return m ? `${m[1] ? m[1] + '@' : ''}${m[2].slice(0, 10)}` : rev;
}

/** One GitSync: where it syncs from, whether it is ready, what it applied and what drifted. */
export function SyncCard({ sync, now, syncing, onSyncNow }: Props) {
  const ready = readyLook(sync.ready);
  const drifted = sync.drift.filter((d) => !d.corrected);
  return (
    <Card component="section" aria-label={`GitSync ${sync.name}`} data-testid={`sync-${sync.name}`} data-ready={sync.ready}>
      <CardContent>
        <Box sx={{ display: 'flex', gap: 2, alignItems: 'flex-start', flexWrap: 'wrap', mb: 2 }}>
          <Box sx={{ flex: 1, minWidth: 240 }}>
            <Box sx={{ display: 'flex', gap: 1, alignItems: 'center', flexWrap: 'wrap' }}>
              <Typography variant="h2" component="h2">
                {sync.name}
              </Typography>
              <Chip size="small" icon={ready.icon} label={ready.label} color={ready.color} />
              {sync.suspended && <Chip size="small" label="Suspended" color="warning" />}
              <Chip size="small" variant="outlined" label={`drift: ${sync.driftMode || 'warn'}`} />
              {drifted.length > 0 && <Chip size="small" color="warning" label={`${drifted.length} drifted`} />}
            </Box>
            <Typography variant="body2" color="textSecondary" sx={{ mt: 0.5, overflowWrap: 'anywhere' }}>
              {sync.url} · {sync.ref}
              {sync.path && ` · ${sync.path}`}
            </Typography>
          </Box>
          <Button
            variant="contained"
            startIcon={<SyncIcon />}
            onClick={onSyncNow}
            loading={syncing}
            loadingPosition="start"
            disabled={sync.suspended}
          >
            Sync now
          </Button>
        </Box>
        <Box
          component="dl"
          sx={{
            display: 'grid',
            gridTemplateColumns: { xs: '1fr', sm: 'max-content 1fr' },
            columnGap: 3,
            rowGap: 0.5,
            m: 0,
            mb: 2,
            '& dt': { color: 'text.secondary' },
            '& dd': { m: 0 },
          }}
        >
          <dt>Applied revision</dt>
          <dd>
            <code data-testid="applied-revision">{shortRevision(sync.lastAppliedRevision)}</code>
            {sync.lastAppliedRevision && <CopyButton value={sync.lastAppliedRevision} label="revision" />}
          </dd>
          {sync.lastAttemptedRevision && sync.lastAttemptedRevision !== sync.lastAppliedRevision && (
            <>
              <dt>Attempted revision</dt>
              <dd>
                <code>{shortRevision(sync.lastAttemptedRevision)}</code> (not applied)
              </dd>
            </>
          )}
          <dt>Last sync request</dt>
          <dd title={formatDateTime(sync.lastHandledReconcileAt)}>{formatRelative(sync.lastHandledReconcileAt, now)}</dd>
          <dt>Objects applied</dt>
          <dd>{sync.inventory.length}</dd>
        </Box>
        {sync.ready !== 'True' && (sync.reason || sync.message) && (
          <Alert severity={sync.ready === 'False' ? 'error' : 'info'} sx={{ mb: 2, '& .MuiAlert-message': { overflowWrap: 'anywhere' } }}>
            <AlertTitle>{sync.reason || 'Status'}</AlertTitle>
            {sync.message}
          </Alert>
        )}
        {sync.conditions.length > 0 && (
          <Box sx={{ display: 'flex', gap: 1, flexWrap: 'wrap', mb: 2 }} aria-label="Conditions">
            {sync.conditions.map((c) => (
              <Chip
                key={c.type}
                size="small"
                variant="outlined"
                color={
                  c.status === 'True'
                    ? c.type === 'Ready'
                      ? 'success'
                      : c.type === 'Stalled' || c.type.includes('Drift')
                        ? 'warning'
                        : 'default'
                    : 'default'
                }
                label={`${c.type}: ${c.status}${c.reason ? ` (${c.reason})` : ''}`}
                title={`${c.message ?? ''} — since ${formatDateTime(c.since)}`}
              />
            ))}
          </Box>
        )}
        {sync.drift.length > 0 && <DriftTable drift={sync.drift} now={now} />}
        <InventoryTable inventory={sync.inventory} drift={sync.drift} />
      </CardContent>
    </Card>
  );
}
