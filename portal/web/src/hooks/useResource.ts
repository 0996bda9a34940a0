import { useCallback, useEffect, useRef, useState } from 'react';

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  /** True until the first answer (data or error) arrives. */
  loading: boolean;
  /** Loads again, keeping the current data on screen meanwhile. */
  reload: () => Promise<void>;
  /** Replaces the data locally, e.g. with what a mutation answered. */
  setData: (update: (current: T | undefined) => T | undefined) => void;
}

export interface ResourceOptions<T> {
  /**
   * Reloads this many milliseconds after each answer; a function decides
   * from the data (e.g. faster while something is starting); null: never.
   */
  pollMs?: number | null | ((data: T | undefined) => number | null);
}

/** Loads something from the API, optionally polling, and cancels on unmount. */
export function useResource<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
  options: ResourceOptions<T> = {},
): Resource<T> {
  const [data, setDataState] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const loadRef = useRef(load);
  loadRef.current = load;
  const pollRef = useRef(options.pollMs);
  pollRef.current = options.pollMs;
  const controller = useRef<AbortController | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const run = useCallback(async () => {
    clearTimeout(timer.current);
    controller.current?.abort();
    const ac = new AbortController();
    controller.current = ac;
    let next: T | undefined;
    try {
      next = await loadRef.current(ac.signal);
      if (ac.signal.aborted) return;
      setDataState(next);
      setError(undefined);
    } catch (err) {
      if (ac.signal.aborted) return;
      setError(err);
    }
    setLoading(false);
    const poll = pollRef.current;
    const ms = typeof poll === 'function' ? poll(next) : poll;
    if (ms != null) timer.current = setTimeout(() => void run(), ms);
  }, []);

  useEffect(() => {
    setLoading(true);
    void run();
    return () => {
      clearTimeout(timer.current);
      controller.current?.abort();
    };
    // the caller's deps say when to load again
  }, deps);

  const setData = useCallback((update: (current: T | undefined) => T | undefined) => setDataState(update), []);

  return { data, error, loading, reload: run, setData };
}
