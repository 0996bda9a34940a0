import Typography from '@mui/material/Typography';
import { deleteFromGit } from '../../../api/admin';
import { ProposeChangeDialog } from './ProposeChangeDialog';

interface Props {
  /** What to delete; undefined: closed. */
  target: { kind: 'templates' | 'quotas'; name: string; label: string } | undefined;
  onClose: () => void;
  onProposed: (name: string) => void;
}

/** Proposes removing a template or quota from the platform repository. */
export function DeleteFromGitDialog({ target, onClose, onProposed }: Props) {
  const propose = async (reason: string) => {
    const r = await deleteFromGit(target!.kind, target!.name, reason);
    const used = r.usedBy ?? [];
    const warnings = used.length > 0 ? [`Still used by ${used.join(', ')}: prune keeps it until they are gone.`] : [];
    return { ...r.result, warnings: [...(r.result.warnings ?? []), ...warnings] };
  };
  return (
    <ProposeChangeDialog
      open={Boolean(target)}
      title={`Delete ${target?.label ?? ''}`}
      submitLabel="Propose deletion"
      formFields={[]}
      onPropose={propose}
      onProposed={() => target && onProposed(target.name)}
      onClose={onClose}
    >
      {() => (
        <Typography variant="body2">
          {target?.kind === 'templates'
            ? 'The pull request removes its file and names the sessions that use it; after the merge the agent keeps the template until those sessions are gone.'
            : 'The pull request removes its file; its users then fall under the next quota that names them, or the default.'}
        </Typography>
      )}
    </ProposeChangeDialog>
  );
}
