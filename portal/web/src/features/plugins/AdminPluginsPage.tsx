import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Link from '@mui/material/Link';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import type { ProposeResult } from '../../api/admin';
import type { InstalledPlugin, PluginProposal, PluginRepository } from '../../api/models';
import { getPluginCatalog, listInstalledPlugins, listPluginProposals } from '../../api/plugins';
import { DataTable, timeColumn, type Column } from '../../components/DataTable';
import { PageHeader } from '../../components/PageHeader';
import { TableSkeleton } from '../../components/PageSkeleton';
import { ResourceView } from '../../components/ResourceView';
import { useNow } from '../../hooks/useNow';
import { useResource } from '../../hooks/useResource';
import { ChangeResultView } from '../admin/changes/ChangeResultView';
import { ApproveDialog } from './PluginDialogs';
import { PermissionList } from './PluginChips';

/** Installed plugins with a permission they ask for and nobody approved yet. */
export const awaitingApproval = (list: InstalledPlugin[]) => list.filter((p) => p.permissions.some((perm) => !perm.approved));

export default function AdminPluginsPage() {
  const catalog = useResource((signal) => getPluginCatalog(signal), [], { pollMs: 15_000 });
  const installed = useResource((signal) => listInstalledPlugins(signal), [], { pollMs: 15_000 });
  const proposals = useResource((signal) => listPluginProposals(signal), [], { pollMs: 15_000 });
  const now = useNow(30_000);
  const [approving, setApproving] = useState<InstalledPlugin>();
  const [result, setResult] = useState<ProposeResult>();

  const repoColumns: Column<PluginRepository>[] = [
    { key: 'name', header: 'Repository', cellSx: { fontWeight: 500 }, cell: (r) => r.name },
    {
      key: 'ready',
      header: 'Sync',
      cell: (r) => (
        <Chip
          size="small"
          color={r.ready === 'True' ? 'success' : r.ready === 'False' ? 'error' : 'default'}
          label={r.ready === 'True' ? 'Synced' : r.reason || r.ready}
          title={r.message}
        />
      ),
    },
    {
      key: 'revision',
      header: 'Revision',
      cell: (r) => <code>{r.lastSyncedRevision?.replace(/^(.*@sha1:[0-9a-f]{12}).*$/, '$1') ?? '—'}</code>,
    },
    { key: 'trust', header: 'Max risk', cell: (r) => r.maxRisk ?? '—' },
    { key: 'plugins', header: 'Plugins', align: 'right', cell: (r) => r.plugins },
    {
      key: 'broken',
      header: 'Broken manifests',
      cell: (r) =>
        r.broken.length === 0 ? (
          'none'
        ) : (
          <Box component="ul" sx={{ m: 0, pl: 2 }} data-testid={`broken-${r.name}`}>
            {r.broken.flatMap((b) => b.problems.map((p) => <li key={p}>{p}</li>))}
          </Box>
        ),
    },
  ];
  const proposalColumns: Column<PluginProposal>[] = [
    timeColumn('at', 'When', (p) => p.at, now),
    { key: 'plugin', header: 'Plugin', cell: (p) => p.plugin },
    { key: 'action', header: 'Change', cell: (p) => p.action },
    { key: 'actor', header: 'By', cell: (p) => p.actor },
    {
      key: 'where',
      header: 'Where',
      cell: (p) =>
        p.url ? (
          <Link href={p.url} target="_blank" rel="noopener noreferrer">
            {p.url.replace(/^.*\/pull\//, 'pull request #')}
          </Link>
        ) : (
          <code>{p.commit?.slice(0, 12)}</code>
        ),
    },
  ];

  return (
    <>
      <PageHeader
        title="Plugin management"
        subtitle="Plugin repositories and their sync, permissions waiting for approval, and the pull requests proposed."
      />
      {result && (
        <Box sx={{ mb: 2 }}>
          <ChangeResultView result={result} />
        </Box>
      )}
      <Typography variant="h2" sx={{ mb: 1 }}>
        Repositories
      </Typography>
      <ResourceView resource={catalog} errorTitle="The plugin repositories could not be loaded" loading={<TableSkeleton rows={2} />}>
        {(c) =>
          c.repositories.length === 0 ? (
            <Alert severity="info">No PluginRepository yet: add one to the platform repository.</Alert>
          ) : (
            <DataTable label="Plugin repositories" outlined columns={repoColumns} rows={c.repositories} rowKey={(r) => r.name} />
          )
        }
      </ResourceView>
      <Typography variant="h2" sx={{ mt: 4, mb: 1 }}>
        Waiting for approval
      </Typography>
      <ResourceView resource={installed} errorTitle="The installed plugins could not be loaded" loading={<TableSkeleton rows={2} />}>
        {(list) => {
          const waiting = awaitingApproval(list);
          if (waiting.length === 0) return <Alert severity="success">Every permission asked for is approved.</Alert>;
          return (
            <Box sx={{ display: 'grid', gap: 1.5 }}>
              {waiting.map((p) => (
                <Box key={p.name} sx={{ p: 2, border: 1, borderColor: 'divider', borderRadius: 1 }} data-testid={`approval-${p.name}`}>
                  <Box sx={{ display: 'flex', justifyContent: 'space-between', alignItems: 'center', mb: 1 }}>
                    <Typography variant="h3" component="h3">
                      {p.displayName}{' '}
                      <Typography component="span" variant="caption">
                        ({p.name})
                      </Typography>
                    </Typography>
                    <Button variant="outlined" size="small" onClick={() => setApproving(p)}>
                      Review permissions
                    </Button>
                  </Box>
                  <PermissionList permissions={p.permissions} />
                </Box>
              ))}
            </Box>
          );
        }}
      </ResourceView>
      <Typography variant="h2" sx={{ mt: 4, mb: 1 }}>
        Proposed changes
      </Typography>
      <ResourceView
        resource={proposals}
        errorTitle="The proposed changes could not be loaded"
        loading={<TableSkeleton rows={3} />}
        empty={<Alert severity="info">No plugin change proposed yet.</Alert>}
      >
        {(list) => (
          <DataTable
            label="Proposed plugin changes"
            outlined
            columns={proposalColumns}
            rows={list}
            rowKey={(p) => p.at + p.plugin + p.action}
          />
        )}
      </ResourceView>
      <ApproveDialog
        plugin={approving}
        onClose={() => setApproving(undefined)}
        onProposed={(r) => {
          setResult(r);
          void proposals.reload();
        }}
      />
    </>
  );
}
