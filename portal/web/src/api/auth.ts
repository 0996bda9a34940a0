import { http } from './http';
import type { AuthProviders, Login, Me, Tokens } from './models';
import type { components } from './types';

type ChangePassword = components['schemas']['ChangePassword'];

export const signIn = (login: Login) => http.request<Tokens>('/auth/login', { method: 'POST', body: login, auth: false });

export const signOut = () => http.request<void>('/auth/logout', { method: 'POST' });

export const getProviders = () => http.request<AuthProviders>('/auth/providers', { auth: false });

export const getMe = () => http.request<Me>('/users/me');

/** Sets my password; the answer signs this browser in again (the cookies). */
export const changePassword = (body: ChangePassword) => http.request<Tokens>('/users/me/password', { method: 'POST', body });

/** Where the browser goes to sign in with the identity provider. */
export function oidcLoginUrl(redirect: string): string {
  return '/api/v1/auth/oidc/login?redirect=' + encodeURIComponent(redirect);
}
