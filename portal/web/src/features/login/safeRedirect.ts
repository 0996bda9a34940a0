/** Where to go after signing in: a path of this site only (never //host or a URL), default the dashboard. */
export function safeRedirect(value: string | null): string {
  if (!value || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\') || value.startsWith('/login')) {
    return '/dashboard';
  }
  return value;
}
