import Alert from '@mui/material/Alert';
import Button from '@mui/material/Button';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import FormControlLabel from '@mui/material/FormControlLabel';
import MenuItem from '@mui/material/MenuItem';
import Switch from '@mui/material/Switch';
import TextField from '@mui/material/TextField';
import { useEffect, useState, type FormEvent } from 'react';
import { updateUser } from '../../../api/admin';
import { errorMessage, fieldErrors } from '../../../api/errors';
import type { AdminUser, Role, UpdateUser } from '../../../api/models';
import { ChipInput } from '../../../components/ChipInput';

interface Props {
  user: AdminUser | undefined;
  knownGroups: string[];
  onSaved: (user: AdminUser) => void;
  onClose: () => void;
}

/** Role, groups, password and disabling; only what changed is sent. */
export function EditUserDialog({ user, knownGroups, onSaved, onClose }: Props) {
  const [role, setRole] = useState<Role>('user');
  const [groups, setGroups] = useState<string[]>([]);
  const [disabled, setDisabled] = useState(false);
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const fields = fieldErrors(error);

  useEffect(() => {
    if (!user) return;
    setRole(user.role);
    setGroups(user.groups);
    setDisabled(user.disabled);
    setPassword('');
    setError(undefined);
  }, [user]);

  if (!user) return null;

  const changes: UpdateUser = {};
  if (role !== user.role) changes.role = role;
  if (groups.join('\n') !== user.groups.join('\n')) changes.groups = groups;
  if (disabled !== user.disabled) changes.disabled = disabled;
  if (password) changes.password = password;
  const changed = Object.keys(changes).length > 0;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSaved(await updateUser(user.username, changes));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog open onClose={busy ? undefined : onClose} maxWidth="sm" fullWidth aria-labelledby="edit-user-title">
      <form onSubmit={submit} noValidate>
        <DialogTitle id="edit-user-title">Edit {user.username}</DialogTitle>
        <DialogContent>
          {error !== undefined && Object.keys(fields).length === 0 && (
            <Alert severity="error" sx={{ mb: 2 }}>
              {errorMessage(error)}
            </Alert>
          )}
          {user.source === 'oidc' && (
            <DialogContentText variant="body2" sx={{ mb: 1 }}>
              This account signs in through single sign-on: its groups are set again from the identity provider at each sign-in.
            </DialogContentText>
          )}
          <TextField
            select
            label="Role"
            value={role}
            onChange={(e) => setRole(e.target.value as Role)}
            error={Boolean(fields.role)}
            helperText={fields.role}
            fullWidth
            margin="dense"
          >
            <MenuItem value="user">User</MenuItem>
            <MenuItem value="admin">Admin</MenuItem>
          </TextField>
          <ChipInput
            label="Groups"
            value={groups}
            onChange={setGroups}
            options={knownGroups}
            error={Boolean(fields.groups)}
            helperText={fields.groups}
          />
          {user.source === 'local' && (
            <TextField
              label="New password"
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              error={Boolean(fields.password)}
              helperText={fields.password ?? 'Leave empty to keep the current one; at least 10 characters'}
              fullWidth
              margin="dense"
            />
          )}
          <FormControlLabel
            sx={{ mt: 1 }}
            control={<Switch checked={disabled} onChange={(e) => setDisabled(e.target.checked)} color="error" />}
            label="Disabled (signs the account out everywhere; it cannot start sessions)"
          />
          {fields.disabled && <Alert severity="error">{fields.disabled}</Alert>}
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="contained" loading={busy} disabled={!changed}>
            Save
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
