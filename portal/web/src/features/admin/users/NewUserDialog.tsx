import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogTitle from '@mui/material/DialogTitle';
import FormControlLabel from '@mui/material/FormControlLabel';
import MenuItem from '@mui/material/MenuItem';
import Switch from '@mui/material/Switch';
import TextField from '@mui/material/TextField';
import { useEffect, useState, type FormEvent } from 'react';
import { createUser } from '../../../api/admin';
import { errorMessage, fieldErrors } from '../../../api/errors';
import type { AdminUser, NewUser, Role } from '../../../api/models';
import { ChipInput } from '../../../components/ChipInput';

interface Props {
  open: boolean;
  /** Groups in use, offered as suggestions. */
  knownGroups: string[];
  onCreated: (user: AdminUser) => void;
  onClose: () => void;
}

const empty: NewUser & { password: string } = {
  username: '',
  display: '',
  email: '',
  password: '',
  role: 'user',
  groups: [],
  serviceAccount: false,
};

/** A local account (with a password) or a service account (API tokens only). */
export function NewUserDialog({ open, knownGroups, onCreated, onClose }: Props) {
  const [user, setUser] = useState(empty);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const fields = fieldErrors(error);
  const set = (patch: Partial<typeof empty>) => setUser((u) => ({ ...u, ...patch }));

  useEffect(() => {
    if (open) {
      setUser(empty);
      setError(undefined);
    }
  }, [open]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const body: NewUser = { ...user, username: user.username.trim() };
      if (user.serviceAccount) delete body.password;
      onCreated(await createUser(body));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const shown = ['username', 'display', 'email', 'password', 'role', 'groups'];
  const other = Object.keys(fields).filter((f) => !shown.includes(f));
  return (
    <Dialog open={open} onClose={busy ? undefined : onClose} maxWidth="sm" fullWidth aria-labelledby="new-user-title">
      <form onSubmit={submit} noValidate>
        <DialogTitle id="new-user-title">New {user.serviceAccount ? 'service account' : 'user'}</DialogTitle>
        <DialogContent>
          {error !== undefined && (Object.keys(fields).length === 0 || other.length > 0) && (
            <Alert severity="error" sx={{ mb: 2 }}>
              {errorMessage(error)}
              {other.map((f) => ` ${f}: ${fields[f]}.`)}
            </Alert>
          )}
          <FormControlLabel
            control={<Switch checked={Boolean(user.serviceAccount)} onChange={(e) => set({ serviceAccount: e.target.checked })} />}
            label="Service account (no password: signs in with API tokens only, for automation)"
          />
          <Box sx={{ display: 'grid', gap: 1, gridTemplateColumns: { xs: '1fr', sm: '1fr 1fr' } }}>
            <TextField
              label="Username"
              value={user.username}
              onChange={(e) => set({ username: e.target.value.toLowerCase() })}
              required
              autoFocus
              error={Boolean(fields.username)}
              helperText={fields.username ?? 'Lowercase letters, digits and -'}
              margin="dense"
            />
            <TextField
              select
              label="Role"
              value={user.role}
              onChange={(e) => set({ role: e.target.value as Role })}
              error={Boolean(fields.role)}
              helperText={fields.role}
              margin="dense"
            >
              <MenuItem value="user">User</MenuItem>
              <MenuItem value="admin">Admin</MenuItem>
            </TextField>
            <TextField
              label="Display name"
              value={user.display}
              onChange={(e) => set({ display: e.target.value })}
              error={Boolean(fields.display)}
              helperText={fields.display}
              margin="dense"
            />
            <TextField
              label="Email"
              type="email"
              value={user.email}
              onChange={(e) => set({ email: e.target.value })}
              error={Boolean(fields.email)}
              helperText={fields.email}
              margin="dense"
            />
            {!user.serviceAccount && (
              <TextField
                label="Password"
                type="password"
                autoComplete="new-password"
                value={user.password}
                onChange={(e) => set({ password: e.target.value })}
                required
                error={Boolean(fields.password)}
                helperText={fields.password ?? 'At least 10 characters'}
                margin="dense"
                sx={{ gridColumn: '1 / -1' }}
              />
            )}
            <Box sx={{ gridColumn: '1 / -1' }}>
              <ChipInput
                label="Groups"
                value={user.groups ?? []}
                onChange={(groups) => set({ groups })}
                options={knownGroups}
                error={Boolean(fields.groups)}
                helperText={fields.groups ?? 'Group quotas apply to their members'}
              />
            </Box>
          </Box>
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" loading={busy} disabled={!user.username.trim()}>
            Create
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
