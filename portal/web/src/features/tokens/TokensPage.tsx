import AddIcon from '@mui/icons-material/Add';
import KeyIcon from '@mui/icons-material/KeyOutlined';
import Button from '@mui/material/Button';
import Paper from '@mui/material/Paper';
import { useState } from 'react';
import { createToken, listTokens, revokeToken } from '../../api/tokens';
import type { APIToken, CreatedAPIToken } from '../../api/models';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { EmptyState } from '../../components/EmptyState';
import { ErrorState } from '../../components/ErrorState';
import { useNotify } from '../../components/Notifier';
import { PageHeader } from '../../components/PageHeader';
import { TableSkeleton } from '../../components/PageSkeleton';
import { useNow } from '../../hooks/useNow';
import { useResource } from '../../hooks/useResource';
import { NewTokenDialog } from './NewTokenDialog';
import { TokenCreatedDialog } from './TokenCreatedDialog';
import { TokenTable } from './TokenTable';

export default function TokensPage() {
  const tokens = useResource((signal) => listTokens(signal), []);
  const notify = useNotify();
  const now = useNow(60_000);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedAPIToken>();
  const [revoking, setRevoking] = useState<APIToken>();

  const newButton = (
    <Button variant="contained" startIcon={<AddIcon />} onClick={() => setCreating(true)}>
      New token
    </Button>
  );

  return (
    <>
      <PageHeader
        title="API tokens"
        subtitle="For scripts and automation that cannot sign in through a browser. A token acts with your rights."
        actions={newButton}
      />
      {tokens.error !== undefined && !tokens.data ? (
        <ErrorState title="Your tokens could not be loaded" error={tokens.error} onRetry={tokens.reload} />
      ) : tokens.loading ? (
        <TableSkeleton rows={3} />
      ) : tokens.data!.length === 0 ? (
        <EmptyState
          icon={<KeyIcon />}
          title="No API tokens"
          description="Create one to use the StreamSpace API from a script or the command line."
          action={newButton}
        />
      ) : (
        <Paper variant="outlined">
          <TokenTable tokens={tokens.data!} now={now} onRevoke={setRevoking} />
        </Paper>
      )}
      <NewTokenDialog
        open={creating}
        create={createToken}
        onCreated={(t) => {
          setCreating(false);
          setCreated(t);
          void tokens.reload();
        }}
        onClose={() => setCreating(false)}
      />
      <TokenCreatedDialog token={created} onClose={() => setCreated(undefined)} />
      <ConfirmDialog
        open={Boolean(revoking)}
        title={`Revoke “${revoking?.name}”?`}
        description="Anything using this token loses access at once. This cannot be undone."
        confirmLabel="Revoke"
        destructive
        onConfirm={async () => {
          await revokeToken(revoking!.id);
          notify(`Token “${revoking!.name}” revoked`);
          void tokens.reload();
        }}
        onClose={() => setRevoking(undefined)}
      />
    </>
  );
}
