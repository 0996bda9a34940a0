import Alert from '@mui/material/Alert';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Paper from '@mui/material/Paper';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useState, type FormEvent } from 'react';
import { changePassword } from '../../api/auth';
import { ApiError, errorMessage } from '../../api/errors';

/**
 * Shown instead of every page while the account's password is one-time
 * (the bootstrap admin's): the API answers nothing else until it is
 * changed.
 */
export function ChangePasswordPage({ onChanged }: { onChanged: () => Promise<void> }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await changePassword({ currentPassword: current, newPassword: next });
      await onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const fields = error instanceof ApiError && error.code === 'invalid_request' ? error.fields : {};
  return (
    <Box sx={{ minHeight: '100vh', display: 'grid', placeItems: 'center', p: 2, bgcolor: 'background.default' }}>
      <Paper component="main" sx={{ width: '100%', maxWidth: 400, p: { xs: 3, sm: 4 }, border: 1, borderColor: 'divider' }}>
        <Typography variant="h2" component="h1" align="center" gutterBottom>
          Choose your password
        </Typography>
        <Typography color="textSecondary" align="center" sx={{ mb: 2 }}>
          You signed in with a one-time password. Choose your own to go on.
        </Typography>
        {error !== undefined && (
          <Alert severity="error" role="alert" sx={{ mb: 1 }}>
            {errorMessage(error)}
          </Alert>
        )}
        <Box component="form" onSubmit={submit} noValidate aria-label="Change your password">
          <TextField
            id="current-password"
            label="One-time password"
            type="password"
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            autoComplete="current-password"
            required
            fullWidth
            margin="normal"
            error={Boolean(fields.currentPassword)}
            helperText={fields.currentPassword}
          />
          <TextField
            id="new-password"
            label="New password"
            type="password"
            value={next}
            onChange={(e) => setNext(e.target.value)}
            autoComplete="new-password"
            required
            fullWidth
            margin="normal"
            error={Boolean(fields.newPassword)}
            helperText={fields.newPassword ?? 'At least 10 characters'}
          />
          <Button type="submit" variant="contained" fullWidth disabled={busy || !current || !next} sx={{ mt: 2 }}>
            Change password
          </Button>
        </Box>
      </Paper>
    </Box>
  );
}
