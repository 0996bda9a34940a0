import { ConfirmDialog } from '../../components/ConfirmDialog';
import { NewTokenDialog } from './NewTokenDialog';
import { TokenCreatedDialog } from './TokenCreatedDialog';
import type { Tokens } from './useTokens';

interface Props {
  flow: Tokens;
  /** Whose tokens, in the new-token title; none for one's own. */
  owner?: string;
  /** What revoking means, in the confirmation. */
  revokeDescription: string;
}

/** The dialogs of the token flow: create, the new value shown once, the revocation's confirmation. */
export function TokenDialogs({ flow, owner, revokeDescription }: Props) {
  return (
    <>
      <NewTokenDialog open={flow.creating} owner={owner} create={flow.create} onCreated={flow.onCreated} onClose={flow.stopCreating} />
      <TokenCreatedDialog token={flow.created} onClose={flow.closeCreated} />
      <ConfirmDialog
        open={Boolean(flow.revoking)}
        title={`Revoke “${flow.revoking?.name}”?`}
        description={revokeDescription}
        confirmLabel="Revoke"
        destructive
        onConfirm={flow.revoke}
        onClose={flow.cancelRevoke}
      />
    </>
  );
}
