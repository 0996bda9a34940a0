/**
 * The CSRF cookie, readable by the page; mutations repeat it in a header.
 * Behind TLS the portal names it with the __Host- prefix (only its own host
 * can set it, so a sibling host cannot plant a token it knows); over plain
 * HTTP (a local platform) it has the plain name. The prefixed one wins.
 */
export const CSRF_COOKIES = ['__Host-ss_csrf', 'ss_csrf'] as const;
export const CSRF_HEADER = 'X-CSRF-Token';

export function readCSRF(cookies: string = document.cookie): string | undefined {
  for (const name of CSRF_COOKIES) {
    const value = readCookie(name, cookies);
    if (value) return value;
  }
  return undefined;
}

export function readCookie(name: string, cookies: string = document.cookie): string | undefined {
  for (const part of cookies.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}
