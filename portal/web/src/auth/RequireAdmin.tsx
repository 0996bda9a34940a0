import { Outlet } from 'react-router';
import { NotAllowedPage } from '../features/errors/NotAllowedPage';
import { useAuth } from './AuthContext';

/** The admin pages, for admins only (the API refuses others with 403 as well). */
export function RequireAdmin() {
  const { isAdmin } = useAuth();
  return isAdmin ? <Outlet /> : <NotAllowedPage />;
}
