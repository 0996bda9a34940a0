import AddIcon from '@mui/icons-material/Add';
import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Typography from '@mui/material/Typography';
import { createUserToken, listUserTokens, revokeUserToken } from '../../../api/admin';
import type { AdminUser } from '../../../api/models';
import { TableSkeleton } from '../../../components/PageSkeleton';
import { ResourceView } from '../../../components/ResourceView';
import { TokenDialogs } from '../../tokens/TokenDialogs';
import { TokenTable } from '../../tokens/TokenTable';
import { useTokens } from '../../tokens/useTokens';

/** A user's API tokens; a service account's can be created here too. */
export function UserTokensDialog({ user, onClose }: { user: AdminUser; onClose: () => void }) {
  const flow = useTokens(
    {
      list: (signal) => listUserTokens(user.username, signal),
      create: (body) => createUserToken(user.username, body),
      revoke: (id) => revokeUserToken(user.username, id),
    },
    [user.username],
  );
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
          <ResourceView
            resource={flow.tokens}
            errorTitle="The tokens could not be loaded"
            loading={<TableSkeleton rows={2} />}
            empty={<Alert severity="info">No tokens.</Alert>}
          >
            {(tokens) => <TokenTable tokens={tokens} now={flow.now} onRevoke={flow.askRevoke} />}
          </ResourceView>
        </DialogContent>
        <DialogActions>
          {service && (
            <Button startIcon={<AddIcon />} onClick={flow.startCreating}>
              New token
            </Button>
          )}
          <Button variant="contained" onClick={onClose}>
            Close
          </Button>
        </DialogActions>
      </Dialog>
      <TokenDialogs
        flow={flow}
        owner={user.username}
        revokeDescription={`Anything using this token of ${user.username} loses access at once.`}
      />
    </>
  );
}
