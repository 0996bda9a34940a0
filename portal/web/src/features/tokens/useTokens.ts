import { useState } from 'react';
import type { APIToken, CreatedAPIToken, NewAPIToken } from '../../api/models';
import { useNotify } from '../../components/Notifier';
import { useNow } from '../../hooks/useNow';
import { useResource, type Resource } from '../../hooks/useResource';

/** Where someone's tokens live: one's own (/tokens) or a user's for an admin (/admin/users/{name}/tokens). */
export interface TokenEndpoints {
  list: (signal: AbortSignal) => Promise<APIToken[]>;
  create: (body: NewAPIToken) => Promise<CreatedAPIToken>;
  revoke: (id: string) => Promise<void>;
}

export interface Tokens {
  tokens: Resource<APIToken[]>;
  /** The current time, for the tokens' ages and expiries. */
  now: number;
  /** The new-token dialog is open. */
  creating: boolean;
  /** The token just created, whose value is shown this once. */
  created: CreatedAPIToken | undefined;
  /** The token whose revocation waits for a confirmation. */
  revoking: APIToken | undefined;
  startCreating: () => void;
  stopCreating: () => void;
  create: (body: NewAPIToken) => Promise<CreatedAPIToken>;
  /** The new token was created: its value is shown and the list reloads. */
  onCreated: (token: CreatedAPIToken) => void;
  closeCreated: () => void;
  askRevoke: (token: APIToken) => void;
  cancelRevoke: () => void;
  /** Revokes the token asked about, says so and reloads the list. */
  revoke: () => Promise<void>;
}

/** The list of someone's API tokens and the create → show once → revoke flow on it. */
export function useTokens(endpoints: TokenEndpoints, deps: readonly unknown[]): Tokens {
  const tokens = useResource(endpoints.list, deps);
  const notify = useNotify();
  const now = useNow(60_000);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedAPIToken>();
  const [revoking, setRevoking] = useState<APIToken>();

  return {
    tokens,
    now,
    creating,
    created,
    revoking,
    startCreating: () => setCreating(true),
    stopCreating: () => setCreating(false),
    create: endpoints.create,
    onCreated: (token) => {
      setCreating(false);
      setCreated(token);
      void tokens.reload();
    },
    closeCreated: () => setCreated(undefined),
    askRevoke: setRevoking,
    cancelRevoke: () => setRevoking(undefined),
    revoke: async () => {
      if (!revoking) return;
      await endpoints.revoke(revoking.id);
      notify(`Token “${revoking.name}” revoked`);
      void tokens.reload();
    },
  };
}
