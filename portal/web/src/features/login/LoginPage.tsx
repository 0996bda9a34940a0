import LoginIcon from '@mui/icons-material/Login';
import Visibility from '@mui/icons-material/Visibility';
import VisibilityOff from '@mui/icons-material/VisibilityOff';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Divider from '@mui/material/Divider';
import IconButton from '@mui/material/IconButton';
import InputAdornment from '@mui/material/InputAdornment';
import Paper from '@mui/material/Paper';
import TextField from '@mui/material/TextField';
import Typography from '@mui/material/Typography';
import { useEffect, useState, type FormEvent } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { getMe, getProviders, oidcLoginUrl, signIn } from '../../api/auth';
import { ApiError, errorMessage } from '../../api/errors';
import type { AuthProviders } from '../../api/models';
import { useNow } from '../../hooks/useNow';
import { secondsLeft } from '../../lib/time';
import { Brand } from '../../layout/Brand';
import { ThemeToggle } from '../../layout/ThemeToggle';
import { useDocumentTitle } from '../../theme/PluginTheme';
import { safeRedirect } from './safeRedirect';

export default function LoginPage() {
  const [params] = useSearchParams();
  const redirect = safeRedirect(params.get('redirect'));
  const navigate = useNavigate();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [showPassword, setShowPassword] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [blockedUntil, setBlockedUntil] = useState(0);
  const [providers, setProviders] = useState<AuthProviders>();
  useNow(1000); // ticks the rate-limit countdown
  useDocumentTitle('Sign in');

  useEffect(() => {
    getProviders().then(setProviders, () => setProviders(undefined));
    // still signed in (or renewable): no need to sign in again
    getMe().then(
      () => navigate(redirect, { replace: true }),
      () => {},
    );
    // once, on opening the page
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await signIn({ username: username.trim(), password });
      navigate(redirect, { replace: true });
    } catch (err) {
      setError(err);
      if (err instanceof ApiError && err.status === 429) setBlockedUntil(Date.now() + (err.retryAfterMs ?? 10_000));
      setBusy(false);
    }
  };

  const fields = error instanceof ApiError && error.code === 'invalid_request' ? error.fields : {};
  const waitSeconds = secondsLeft(blockedUntil, Date.now());
  const blocked = waitSeconds > 0;

  return (
    <Box sx={{ minHeight: '100vh', display: 'grid', placeItems: 'center', p: 2, bgcolor: 'background.default' }}>
      <Box sx={{ position: 'fixed', top: 8, right: 8 }}>
        <ThemeToggle />
      </Box>
      <Paper component="main" sx={{ width: '100%', maxWidth: 400, p: { xs: 3, sm: 4 }, border: 1, borderColor: 'divider' }}>
        <Box sx={{ display: 'flex', justifyContent: 'center', mb: 2 }}>
          <Brand size={36} />
        </Box>
        <Typography variant="h2" component="h1" align="center" gutterBottom>
          Sign in
        </Typography>
        <Typography color="textSecondary" align="center" sx={{ mb: 3 }}>
          Your desktop apps, in your browser.
        </Typography>
        {error !== undefined && <LoginError error={error} waitSeconds={waitSeconds} />}
        <Box component="form" onSubmit={submit} noValidate aria-label="Sign in with a local account">
          <TextField
            id="username"
            name="username"
            label="Username"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
            autoComplete="username"
            autoFocus
            required
            fullWidth
            margin="normal"
            error={Boolean(fields.username)}
            helperText={fields.username}
          />
          <TextField
            id="password"
            name="password"
            label="Password"
            type={showPassword ? 'text' : 'password'}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete="current-password"
            required
            fullWidth
            margin="normal"
            error={Boolean(fields.password)}
            helperText={fields.password}
            slotProps={{
              input: {
                endAdornment: (
                  <InputAdornment position="end">
                    <IconButton
                      aria-label={showPassword ? 'Hide password' : 'Show password'}
                      onClick={() => setShowPassword((v) => !v)}
                      edge="end"
                    >
                      {showPassword ? <VisibilityOff /> : <Visibility />}
                    </IconButton>
                  </InputAdornment>
                ),
              },
            }}
          />
          <Button
            type="submit"
            variant="contained"
            size="large"
            fullWidth
            loading={busy}
            disabled={blocked || !username || !password}
            sx={{ mt: 2 }}
          >
            {blocked ? `Sign in (wait ${waitSeconds}s)` : 'Sign in'}
          </Button>
        </Box>
        {providers?.oidc.enabled && (
          <>
            <Divider sx={{ my: 3 }}>or</Divider>
            <Button
              variant="outlined"
              size="large"
              fullWidth
              startIcon={<LoginIcon />}
              onClick={() => window.location.assign(oidcLoginUrl(redirect))}
            >
              Sign in with {providers.oidc.name || 'single sign-on'}
            </Button>
          </>
        )}
      </Paper>
    </Box>
  );
}

function LoginError({ error, waitSeconds }: { error: unknown; waitSeconds: number }) {
  let title = 'Sign-in failed';
  let text = errorMessage(error);
  if (error instanceof ApiError) {
    if (error.status === 401) {
      title = 'Wrong username or password';
      text = /disabled/i.test(error.message) ? 'This account is disabled. Ask an administrator.' : 'Check both and try again.';
    } else if (error.status === 429) {
      title = 'Too many attempts';
      text = waitSeconds > 0 ? `For your account's safety, wait ${waitSeconds}s before trying again.` : 'You can try again now.';
    } else if (error.code === 'invalid_request') {
      title = 'Fill in both fields';
      text = error.message;
    }
  }
  return (
    <Alert severity={error instanceof ApiError && error.status === 429 ? 'warning' : 'error'} sx={{ mb: 1 }} role="alert">
      <AlertTitle>{title}</AlertTitle>
      {text}
    </Alert>
  );
}
