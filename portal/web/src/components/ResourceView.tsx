import type { ReactNode } from 'react';
import type { Resource } from '../hooks/useResource';
import { ErrorState } from './ErrorState';

interface Props<T> {
  resource: Resource<T>;
  /** What could not be loaded, e.g. "The users could not be loaded". */
  errorTitle: string;
  /** Shown until the first answer, and while new parameters load. */
  loading: ReactNode;
  /** Shown instead of the content when there is nothing; none: the content shows even then. */
  empty?: ReactNode;
  /** Whether the data counts as nothing; default: an empty list. */
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ReactNode;
}

const emptyList = (data: unknown) => Array.isArray(data) && data.length === 0;

/**
 * A loaded resource in its states: the error with a retry (only while there
 * is nothing to show: a failed poll keeps the last data on screen), the
 * loading placeholder, the empty state, or the content.
 */
export function ResourceView<T>({ resource, errorTitle, loading, empty, isEmpty = emptyList, children }: Props<T>) {
  const { data, error } = resource;
  if (error !== undefined && data === undefined) return <ErrorState title={errorTitle} error={error} onRetry={resource.reload} />;
  if (resource.loading || data === undefined) return loading;
  if (empty !== undefined && isEmpty(data)) return empty;
  return children(data);
}
