import AddIcon from '@mui/icons-material/Add';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Typography from '@mui/material/Typography';
import { useState } from 'react';
import { createUserToken, listUserTokens, revokeUserToken } from '../../../api/admin';
import type { AdminUser, APIToken, CreatedAPIToken } from '../../../api/models';
import { ConfirmDialog } from '../../../components/ConfirmDialog';
import { ErrorState } from '../../../components/ErrorState';
import { useNotify } from '../../../components/Notifier';
import { TableSkeleton } from '../../../components/PageSkeleton';
import { useNow } from '../../../hooks/useNow';
import { useResource } from '../../../hooks/useResource';
import { NewTokenDialog } from '../../tokens/NewTokenDialog';
import { TokenCreatedDialog } from '../../tokens/TokenCreatedDialog';
import { TokenTable } from '../../tokens/TokenTable';

/** A user's API tokens; a service account's can be created here too. */
export function UserTokensDialog({ user, onClose }: { user: AdminUser; onClose: () => void }) {
  const tokens = useResource((signal) => listUserTokens(user.username, signal), [user.username]);
  const notify = useNotify();
  const now = useNow(60_000);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedAPIToken>();
  const [revoking, setRevoking] = useState<APIToken>();
  const service = user.source === 'service';

  return (
    <>
      <Dialog open onClose={onClose} maxWidth="md" fullWidth aria-labelledby="user-tokens-title">
        <DialogTitle id="user-tokens-title">API tokens of {user.username}</DialogTitle>
        <DialogContent>
          {!service && (
            <Typography variant="body2" color="textSecondary" sx={{ mb: 2 }}>
              People create their own tokens; you can revoke them here.
            </Typography>
          )}
          {tokens.error !== undefined && !tokens.data ? (
            <ErrorState title="The tokens could not be loaded" error={tokens.error} onRetry={tokens.reload} />
          ) : tokens.loading ? (
            <TableSkeleton rows={2} />
          ) : tokens.data!.length === 0 ? (
            <Alert severity="info">No tokens.</Alert>
          ) : (
            <TokenTable tokens={tokens.data!} now={now} onRevoke={setRevoking} />
          )}
        </DialogContent>
        <DialogActions>
          {service && (
            <Button startIcon={<AddIcon />} onClick={() => setCreating(true)}>
              New token
            </Button>
          )}
          <Button variant="contained" onClick={onClose}>
            Close
          </Button>
        </DialogActions>
      </Dialog>
      <NewTokenDialog
        open={creating}
        owner={user.username}
        create={(body) => createUserToken(user.username, body)}
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
        description={`Anything using this token of ${user.username} loses access at once.`}
        confirmLabel="Revoke"
        destructive
        onConfirm={async () => {
          await revokeUserToken(user.username, revoking!.id);
          notify(`Token “${revoking!.name}” revoked`);
          void tokens.reload();
        }}
        onClose={() => setRevoking(undefined)}
      />
    </>
  );
}
