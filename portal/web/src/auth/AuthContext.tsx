import { createContext, useContext } from 'react';
import type { Me } from '../api/models';

export interface Auth {
  me: Me;
  isAdmin: boolean;
  /** Loads who I am again (after a change of role, say). */
  reload: () => Promise<void>;
  signOut: () => Promise<void>;
}

export const AuthContext = createContext<Auth | null>(null);

/** The signed-in user; only inside RequireAuth. */
export function useAuth(): Auth {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside RequireAuth');
  return ctx;
}
