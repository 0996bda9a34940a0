/** Human durations and times, in the user's locale. */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "45s", "12m", "3h 5m", "2d 4h". */
export function formatDuration(ms: number): string {
  const abs = Math.max(0, Math.round(ms));
  if (abs < MINUTE) return `${Math.round(abs / 1000)}s`;
  if (abs < 5 * MINUTE) {
    // close deadlines deserve seconds: "1m 36s"
    const s = Math.floor((abs % MINUTE) / 1000);
    return s ? `${Math.floor(abs / MINUTE)}m ${s}s` : `${Math.floor(abs / MINUTE)}m`;
  }
  if (abs < HOUR) return `${Math.floor(abs / MINUTE)}m`;
  if (abs < DAY) {
    const h = Math.floor(abs / HOUR);
    const m = Math.floor((abs % HOUR) / MINUTE);
    return m ? `${h}h ${m}m` : `${h}h`;
  }
  const d = Math.floor(abs / DAY);
  const h = Math.floor((abs % DAY) / HOUR);
  return h ? `${d}d ${h}h` : `${d}d`;
}

/** "in 12m" or "12m ago" relative to now; missing when there is no time (e.g. "Never"). */
export function formatRelative(iso: string | undefined, now: number = Date.now(), missing = '—'): string {
  if (!iso) return missing;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '—';
  const diff = t - now;
  if (Math.abs(diff) < 5000) return 'just now';
  return diff > 0 ? `in ${formatDuration(diff)}` : `${formatDuration(-diff)} ago`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function formatDateTime(iso: string | undefined): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '—' : dateTime.format(t);
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : time.format(t);
}

/** Milliseconds from a to b, or undefined when either is missing. */
export function between(a: string | undefined, b: string | undefined): number | undefined {
  if (!a || !b) return undefined;
  const d = Date.parse(b) - Date.parse(a);
  return Number.isNaN(d) ? undefined : d;
}

/** Whole seconds left until a moment (rounded up, never below 0), for "wait 12s" countdowns. */
export function secondsLeft(until: number, now: number): number {
  return Math.max(0, Math.ceil((until - now) / 1000));
}

/** A Go duration as people write it: "8h0m0s" → "8h", "1h30m0s" → "1h30m". */
export function shortGoDuration(d: string): string {
  const s = d.replace(/([hm])0s$/, '$1').replace(/h0m$/, 'h');
  return s || d;
}

/** A day "2026-11-29" as its month and day, "11-29", for a chart's axis. */
export function formatMonthDay(date: string): string {
  return date.slice(5);
}
