import ExtensionIcon from '@mui/icons-material/ExtensionOutlined';
import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Card from '@mui/material/Card';
import CardActions from '@mui/material/CardActions';
import CardContent from '@mui/material/CardContent';
import Chip from '@mui/material/Chip';
import Link from '@mui/material/Link';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import type { ProposeResult } from '../../api/admin';
import type { InstalledPlugin, PluginDelivery, PluginProposal } from '../../api/models';
import { disablePlugin, enablePlugin, listInstalledPlugins, uninstallPlugin } from '../../api/plugins';
import { useAuth } from '../../auth/AuthContext';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { EmptyState } from '../../components/EmptyState';
import { PageHeader } from '../../components/PageHeader';
import { CardGridSkeleton } from '../../components/PageSkeleton';
import { ResourceView } from '../../components/ResourceView';
import { useNow } from '../../hooks/useNow';
import { useResource } from '../../hooks/useResource';
import { formatDateTime, formatRelative } from '../../lib/time';
import { ChangeErrorView } from '../admin/changes/ChangeErrorView';
import { ChangeResultView } from '../admin/changes/ChangeResultView';
import { ApproveDialog, ConfigureDialog } from './PluginDialogs';
import { PermissionList, PluginTypeChip } from './PluginChips';

/** The Ready condition as a chip: on, off with the reason, or not known yet. */
export function ReadyChip({ p }: { p: InstalledPlugin }) {
  if (p.ready === 'True') return <Chip size="small" color="success" label="Ready" data-testid="plugin-ready" />;
  if (p.ready === 'False') return <Chip size="small" color="warning" label={p.reason || 'Not ready'} data-testid="plugin-ready" />;
  return <Chip size="small" label="Waiting for the agent" data-testid="plugin-ready" />;
}

export function DeliveryLine({ d, now }: { d?: PluginDelivery; now: number }) {
  if (!d)
    return (
      <Typography variant="body2" color="text.secondary">
        No events delivered yet.
      </Typography>
    );
  return (
    <Box data-testid="plugin-delivery">
      <Typography variant="body2">
        {d.delivered} delivered · {d.failed} failed · {d.pending} pending
        {d.lastSuccess && <span title={formatDateTime(d.lastSuccess)}> · last {formatRelative(d.lastSuccess, now)}</span>}
      </Typography>
      {d.attempts > 0 && (
        <Alert severity="warning" sx={{ mt: 1 }}>
          Retrying (attempt {d.attempts}){d.lastError ? `: ${d.lastError}` : ''}
        </Alert>
      )}
    </Box>
  );
}

export function ProposalLinks({ proposals, now }: { proposals: PluginProposal[]; now: number }) {
  if (proposals.length === 0) return null;
  return (
    <Box component="ul" sx={{ m: 0, pl: 2.5 }} aria-label="Proposed changes">
      {proposals.slice(0, 3).map((pr) => (
        <li key={pr.at + pr.action}>
          <Typography variant="body2" component="span">
            {pr.action} by {pr.actor}, {formatRelative(pr.at, now)}:{' '}
            {pr.url ? (
              <Link href={pr.url} target="_blank" rel="noopener noreferrer">
                pull request
              </Link>
            ) : (
              <code>{pr.commit?.slice(0, 12)}</code>
            )}
          </Typography>
        </li>
      ))}
    </Box>
  );
}

export default function InstalledPluginsPage() {
  const installed = useResource((signal) => listInstalledPlugins(signal), [], { pollMs: 10_000 });
  const { isAdmin } = useAuth();
  const now = useNow(30_000);
  const [result, setResult] = useState<ProposeResult>();
  const [error, setError] = useState<unknown>();
  const [configuring, setConfiguring] = useState<InstalledPlugin>();
  const [approving, setApproving] = useState<InstalledPlugin>();
  const [removing, setRemoving] = useState<InstalledPlugin>();
  const proposed = (r: ProposeResult) => {
    setError(undefined);
    setResult(r);
    void installed.reload();
  };
  const act = async (f: () => Promise<ProposeResult>) => {
    try {
      proposed(await f());
    } catch (err) {
      setResult(undefined);
      setError(err);
    }
  };

  return (
    <>
      <PageHeader
        title="Installed plugins"
        subtitle="Plugins installed from Git, their state and the delivery of their events. Changes become pull requests."
      />
      {result && (
        <Box sx={{ mb: 2 }}>
          <ChangeResultView result={result} />
        </Box>
      )}
      {error !== undefined && (
        <Box sx={{ mb: 2 }}>
          <ChangeErrorView error={error} />
        </Box>
      )}
      <ResourceView
        resource={installed}
        errorTitle="The installed plugins could not be loaded"
        loading={<CardGridSkeleton count={3} />}
        empty={
          <EmptyState icon={<ExtensionIcon />} title="No plugins installed" description="Admins install plugins from the plugin catalog." />
        }
      >
        {(list) => (
          <Box sx={{ display: 'grid', gap: 2, gridTemplateColumns: 'repeat(auto-fill, minmax(340px, 1fr))' }}>
            {list.map((p) => (
              <Card key={p.name} data-testid={`installed-${p.name}`}>
                <CardContent>
                  <Box sx={{ display: 'flex', gap: 1, alignItems: 'center', flexWrap: 'wrap', mb: 1 }}>
                    <Typography variant="h3" component="h2">
                      {p.displayName}
                    </Typography>
                    <PluginTypeChip type={p.type} />
                    <ReadyChip p={p} />
                    <Chip size="small" variant="outlined" label={p.enabled ? 'enabled' : 'disabled'} data-testid="plugin-enabled" />
                  </Box>
                  <Typography variant="caption" color="text.secondary" component="p" sx={{ mb: 1 }}>
                    {p.name} · {p.pluginName} {p.version} · {p.repository}
                  </Typography>
                  {p.ready === 'False' && p.message && (
                    <Alert severity="info" sx={{ mb: 1 }}>
                      {p.message}
                    </Alert>
                  )}
                  <PermissionList permissions={p.permissions} />
                  <Box sx={{ mt: 1.5 }}>
                    <DeliveryLine d={p.delivery} now={now} />
                  </Box>
                  <ProposalLinks proposals={p.proposals} now={now} />
                </CardContent>
                {isAdmin && (
                  <CardActions sx={{ flexWrap: 'wrap' }}>
                    {p.enabled ? (
                      <Button size="small" onClick={() => void act(() => disablePlugin(p.name))}>
                        Disable
                      </Button>
                    ) : (
                      <Button size="small" onClick={() => void act(() => enablePlugin(p.name))}>
                        Enable
                      </Button>
                    )}
                    {p.configSchema && (
                      <Button size="small" onClick={() => setConfiguring(p)}>
                        Configure
                      </Button>
                    )}
                    {p.permissions.length > 0 && (
                      <Button size="small" onClick={() => setApproving(p)}>
                        Permissions
                      </Button>
                    )}
                    <Button size="small" color="error" onClick={() => setRemoving(p)}>
                      Uninstall
                    </Button>
                  </CardActions>
                )}
              </Card>
            ))}
          </Box>
        )}
      </ResourceView>
      <ConfigureDialog plugin={configuring} onClose={() => setConfiguring(undefined)} onProposed={proposed} />
      <ApproveDialog plugin={approving} onClose={() => setApproving(undefined)} onProposed={proposed} />
      <ConfirmDialog
        open={removing !== undefined}
        title={`Uninstall ${removing?.displayName ?? ''}?`}
        description="A pull request removes its Plugin YAML from the platform repository; the agent removes the plugin once it is merged."
        confirmLabel="Propose uninstall"
        destructive
        onConfirm={async () => proposed(await uninstallPlugin(removing!.name))}
        onClose={() => setRemoving(undefined)}
      />
    </>
  );
}
