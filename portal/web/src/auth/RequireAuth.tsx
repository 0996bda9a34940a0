import Box from '@mui/material/Box';
import CircularProgress from '@mui/material/CircularProgress';
import { useMemo, type ReactNode } from 'react';
import { getMe, signOut as apiSignOut } from '../api/auth';
import { ApiError } from '../api/errors';
import { ErrorState } from '../components/ErrorState';
import { ChangePasswordPage } from '../features/login/ChangePasswordPage';
import { useResource } from '../hooks/useResource';
import { AuthContext, type Auth } from './AuthContext';

/**
 * Renders its children for a signed-in user. Who that is comes from
 * /users/me; when the sign-in cannot be renewed the API client sends the
 * browser to /login.
 */
export function RequireAuth({ children }: { children: ReactNode }) {
  const me = useResource(() => getMe(), []);

  const auth = useMemo<Auth | null>(() => {
    if (!me.data) return null;
    return {
      me: me.data,
      isAdmin: me.data.role === 'admin',
      reload: me.reload,
      signOut: async () => {
        try {
          await apiSignOut();
        } finally {
          window.location.assign('/login');
        }
      },
    };
  }, [me.data, me.reload]);

  // a one-time password (the bootstrap admin's): the API refuses all else
  if (auth?.me.mustChangePassword) return <ChangePasswordPage onChanged={me.reload} />;
  if (auth) return <AuthContext.Provider value={auth}>{children}</AuthContext.Provider>;
  if (me.error && !(me.error instanceof ApiError && me.error.status === 401)) {
    return (
      <Box sx={{ p: 4 }}>
        <ErrorState title="StreamSpace cannot load your account" error={me.error} onRetry={me.reload} />
      </Box>
    );
  }
  return (
    <Box role="status" aria-label="Loading your account" sx={{ display: 'grid', placeItems: 'center', minHeight: '100vh' }}>
      <CircularProgress />
    </Box>
  );
}
