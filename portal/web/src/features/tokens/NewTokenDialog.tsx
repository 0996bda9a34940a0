import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import MenuItem from '@mui/material/MenuItem';
import TextField from '@mui/material/TextField';
import { useState, type FormEvent } from 'react';
import { errorMessage, fieldErrors } from '../../api/errors';
import type { CreatedAPIToken, NewAPIToken } from '../../api/models';

interface Props {
  open: boolean;
  /** Whose token, in the title ("for ci-bot"); empty for one's own. */
  owner?: string;
  create: (body: NewAPIToken) => Promise<CreatedAPIToken>;
  onCreated: (token: CreatedAPIToken) => void;
  onClose: () => void;
}

const lifetimes = [
  { days: 30, label: '30 days' },
  { days: 90, label: '90 days' },
  { days: 365, label: '1 year' },
  { days: 0, label: 'Never expires' },
];

export function NewTokenDialog({ open, owner, create, onCreated, onClose }: Props) {
  const [name, setName] = useState('');
  const [days, setDays] = useState(90);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const fields = fieldErrors(error);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const token = await create({ name: name.trim(), expiresInDays: days });
      setName('');
      onCreated(token);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open={open} onClose={busy ? undefined : onClose} maxWidth="xs" fullWidth aria-labelledby="new-token-title">
      <form onSubmit={submit} noValidate>
        <DialogTitle id="new-token-title">New API token{owner ? ` for ${owner}` : ''}</DialogTitle>
        <DialogContent>
          {error !== undefined && Object.keys(fields).length === 0 && (
            <Alert severity="error" sx={{ mb: 2 }}>
              {errorMessage(error)}
            </Alert>
          )}
          <TextField
            label="Name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            helperText={fields.name ?? 'What uses it, e.g. "CI pipeline" — at most 64 characters'}
            error={Boolean(fields.name)}
            slotProps={{ htmlInput: { maxLength: 64 } }}
            required
            autoFocus
            fullWidth
            margin="dense"
          />
          <TextField
            select
            label="Expires"
            value={days}
            onChange={(e) => setDays(Number(e.target.value))}
            error={Boolean(fields.expiresInDays)}
            helperText={fields.expiresInDays}
            fullWidth
            margin="dense"
          >
            {lifetimes.map((l) => (
              <MenuItem key={l.days} value={l.days}>
                {l.label}
              </MenuItem>
            ))}
          </TextField>
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" loading={busy} disabled={!name.trim()}>
            Create token
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
