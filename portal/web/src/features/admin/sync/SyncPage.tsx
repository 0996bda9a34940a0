import SyncIcon from '@mui/icons-material/Sync';
import Box from '@mui/material/Box';
import { useEffect, useState } from 'react';
import { listSyncs, reconcileSync } from '../../../api/admin';
import { errorMessage } from '../../../api/errors';
import { EmptyState } from '../../../components/EmptyState';
import { useNotify } from '../../../components/Notifier';
import { PageHeader } from '../../../components/PageHeader';
import { CardGridSkeleton } from '../../../components/PageSkeleton';
import { ResourceView } from '../../../components/ResourceView';
import { useNow } from '../../../hooks/useNow';
import { useResource } from '../../../hooks/useResource';
import { formatTime } from '../../../lib/time';
import { SyncCard } from './SyncCard';

/** After "Sync now", poll quickly for this long to show the result. */
const FOLLOW_MS = 60_000;

export default function SyncPage() {
  const notify = useNotify();
  const now = useNow(10_000);
  const [followUntil, setFollowUntil] = useState(0);
  const [syncing, setSyncing] = useState<string>();
  const syncs = useResource((signal) => listSyncs(signal), [], { pollMs: () => (Date.now() < followUntil ? 3000 : 30_000) });

  // restart the polling loop at the fast pace when following a request
  useEffect(() => {
    if (followUntil) void syncs.reload();
  }, [followUntil, syncs.reload]);

  const syncNow = async (name: string) => {
    setSyncing(name);
    try {
      const r = await reconcileSync(name);
      notify(`Sync of ${name} requested at ${formatTime(r.requestedAt)}`);
      setFollowUntil(Date.now() + FOLLOW_MS);
    } catch (err) {
      notify(errorMessage(err), 'error');
    } finally {
      setSyncing(undefined);
    }
  };

  return (
    <>
      <PageHeader title="Git sync" subtitle="What the agent applied from the platform repository, and what changed in the cluster since." />
      <ResourceView
        resource={syncs}
        errorTitle="The sync status could not be loaded"
        loading={<CardGridSkeleton count={1} height={320} />}
        empty={
          <EmptyState
            icon={<SyncIcon />}
            title="No GitSync"
            description="The agent syncs nothing yet. Create a GitSync object pointing at the platform repository and an environments/ overlay."
          />
        }
      >
        {(list) => (
          <Box sx={{ display: 'grid', gap: 3 }}>
            {list.map((s) => (
              <SyncCard key={s.name} sync={s} now={now} syncing={syncing === s.name} onSyncNow={() => void syncNow(s.name)} />
            ))}
          </Box>
        )}
      </ResourceView>
    </>
  );
}
