import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import Typography from '@mui/material/Typography';
import type { CreatedAPIToken } from '../../api/models';
import { CopyButton } from '../../components/CopyButton';

/** The new token's value, shown this once. */
export function TokenCreatedDialog({ token, onClose }: { token: CreatedAPIToken | undefined; onClose: () => void }) {
  return (
    <Dialog open={Boolean(token)} onClose={onClose} maxWidth="sm" fullWidth aria-labelledby="token-created-title">
      <DialogTitle id="token-created-title">Token “{token?.name}” created</DialogTitle>
      <DialogContent>
        <Alert severity="warning" sx={{ mb: 2 }}>
          Copy it now: it is shown only this once. Anyone with it acts with its owner's rights until it expires or is revoked.
        </Alert>
        <Box sx={{ display: 'flex', alignItems: 'center', gap: 1, p: 1.5, bgcolor: 'action.hover', borderRadius: 1 }}>
          <Typography component="code" data-testid="new-token-value" sx={{ flex: 1, fontFamily: 'monospace', wordBreak: 'break-all' }}>
            {token?.token}
          </Typography>
          {token && <CopyButton value={token.token} label="token" />}
        </Box>
        <Typography variant="body2" color="textSecondary" sx={{ mt: 2 }}>
          Use it as <code>Authorization: Bearer &lt;token&gt;</code> with the API at <code>/api/v1</code>.
        </Typography>
      </DialogContent>
      <DialogActions>
        <Button variant="contained" onClick={onClose}>
          Done
        </Button>
      </DialogActions>
    </Dialog>
  );
}
